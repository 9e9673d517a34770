// This file is over 400 lines because it reads every field of an AdmissionReview of ConfigMaps,
// as encoding/json would, one reader per type.

package webhook

import (
	"bytes"
	"encoding/base64"
	"time"
	"unicode/utf8"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file holds the fast reader's (decode.go) readers of the types of an
// AdmissionReview of ConfigMaps, field by field as encoding/json fills them.

// fastDecodeReview reads a review the way DecodeReview's encoding/json
// pass does: the request with its objects decoded as ConfigMaps.
func fastDecodeReview(body []byte) (fastReview, error) {
	r := &fastReader{b: body, ok: true}
	var out fastReview
	r.ws()
	r.object(func(k []byte) {
		switch string(k) {
		case "apiVersion":
			r.once(&out.seen, 0)
			r.stringInto(&out.TypeMeta.APIVersion)
		case "kind":
			r.once(&out.seen, 1)
			r.stringInto(&out.TypeMeta.Kind)
		case "request":
			r.once(&out.seen, 2)
			if r.null() {
				out.Request = nil
				return
			}
			out.Request = &wireRequest{}
			r.request(out.Request)
		default:
			r.unknown(k, reviewFields)
		}
	})
	r.ws()
	if !r.ok || r.i != len(r.b) {
		return fastReview{}, errLeftToJSON
	}
	return out, nil
}

// fastReview is the fast reader's wireReview; seen notes its fields.
type fastReview struct {
	TypeMeta metav1.TypeMeta
	Request  *wireRequest
	seen     uint64
}

// The field names of each type, for refusing keys that encoding/json would
// match without regard to case.
var (
	reviewFields      = []string{"apiversion", "kind", "request"}
	requestFields     = []string{"uid", "kind", "resource", "subresource", "requestkind", "requestresource", "requestsubresource", "name", "namespace", "operation", "userinfo", "object", "oldobject", "dryrun", "options"}
	gvkFields         = []string{"group", "version", "kind"}
	gvrFields         = []string{"group", "version", "resource"}
	userFields        = []string{"username", "uid", "groups", "extra"}
	configMapFields   = []string{"apiversion", "kind", "metadata", "immutable", "data", "binarydata"}
	objectMetaFields  = []string{"name", "generatename", "namespace", "selflink", "uid", "resourceversion", "generation", "creationtimestamp", "deletiontimestamp", "deletiongraceperiodseconds", "labels", "annotations", "ownerreferences", "finalizers", "managedfields"}
	ownerRefFields    = []string{"apiversion", "kind", "name", "uid", "controller", "blockownerdeletion"}
	managedFieldNames = []string{"manager", "operation", "apiversion", "time", "fieldstype", "fieldsv1", "subresource"}
)

func (r *fastReader) request(req *wireRequest) {
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "uid":
			r.once(&seen, 0)
			r.stringInto((*string)(&req.UID))
		case "kind":
			r.once(&seen, 1)
			r.gvk(&req.Kind)
		case "resource":
			r.once(&seen, 2)
			r.gvr(&req.Resource)
		case "subResource":
			r.once(&seen, 3)
			r.stringInto(&req.SubResource)
		case "requestKind":
			r.once(&seen, 4)
			if r.null() {
				req.RequestKind = nil
				return
			}
			req.RequestKind = &metav1.GroupVersionKind{}
			r.gvk(req.RequestKind)
		case "requestResource":
			r.once(&seen, 5)
			if r.null() {
				req.RequestResource = nil
				return
			}
			req.RequestResource = &metav1.GroupVersionResource{}
			r.gvr(req.RequestResource)
		case "requestSubResource":
			r.once(&seen, 6)
			r.stringInto(&req.RequestSubResource)
		case "name":
			r.once(&seen, 7)
			r.stringInto(&req.Name)
		case "namespace":
			r.once(&seen, 8)
			r.stringInto(&req.Namespace)
		case "operation":
			r.once(&seen, 9)
			r.stringInto((*string)(&req.Operation))
		case "userInfo":
			r.once(&seen, 10)
			r.userInfo(&req.UserInfo)
		case "object":
			r.once(&seen, 11)
			req.Object = r.configMapPtr()
		case "oldObject":
			r.once(&seen, 12)
			req.OldObject = r.configMapPtr()
		case "dryRun":
			r.once(&seen, 13)
			req.DryRun = r.boolPtr()
		case "options":
			r.once(&seen, 14)
			raw := r.rawValue()
			if r.ok && string(raw) != "null" {
				req.Options.Raw = bytes.Clone(raw)
			}
		default:
			r.unknown(k, requestFields)
		}
	})
}

func (r *fastReader) gvk(v *metav1.GroupVersionKind) {
	if r.null() {
		return
	}
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "group":
			r.once(&seen, 0)
			r.stringInto(&v.Group)
		case "version":
			r.once(&seen, 1)
			r.stringInto(&v.Version)
		case "kind":
			r.once(&seen, 2)
			r.stringInto(&v.Kind)
		default:
			r.unknown(k, gvkFields)
		}
	})
}

func (r *fastReader) gvr(v *metav1.GroupVersionResource) {
	if r.null() {
		return
	}
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "group":
			r.once(&seen, 0)
			r.stringInto(&v.Group)
		case "version":
			r.once(&seen, 1)
			r.stringInto(&v.Version)
		case "resource":
			r.once(&seen, 2)
			r.stringInto(&v.Resource)
		default:
			r.unknown(k, gvrFields)
		}
	})
}

func (r *fastReader) userInfo(u *authenticationv1.UserInfo) {
	if r.null() {
		return
	}
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "username":
			r.once(&seen, 0)
			r.stringInto(&u.Username)
		case "uid":
			r.once(&seen, 1)
			r.stringInto(&u.UID)
		case "groups":
			r.once(&seen, 2)
			u.Groups = r.strings()
		case "extra":
			r.once(&seen, 3)
			if r.null() {
				u.Extra = nil
				return
			}
			u.Extra = map[string]authenticationv1.ExtraValue{}
			r.object(func(k []byte) {
				key := r.mapKey(k)
				u.Extra[key] = r.strings()
			})
		default:
			r.unknown(k, userFields)
		}
	})
}

// configMapPtr reads a *ConfigMap: null is nil.
func (r *fastReader) configMapPtr() *corev1.ConfigMap {
	if r.null() {
		return nil
	}
	cm := &corev1.ConfigMap{}
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "apiVersion":
			r.once(&seen, 0)
			r.stringInto(&cm.APIVersion)
		case "kind":
			r.once(&seen, 1)
			r.stringInto(&cm.Kind)
		case "metadata":
			r.once(&seen, 2)
			r.objectMeta(&cm.ObjectMeta)
		case "immutable":
			r.once(&seen, 3)
			cm.Immutable = r.boolPtr()
		case "data":
			r.once(&seen, 4)
			cm.Data = r.stringMap()
		case "binaryData":
			r.once(&seen, 5)
			cm.BinaryData = r.bytesMap()
		default:
			r.unknown(k, configMapFields)
		}
	})
	return cm
}

// bytesMap reads a map[string][]byte as encoding/json does: base64
// strings, null values nil.
func (r *fastReader) bytesMap() map[string][]byte {
	if r.null() {
		return nil
	}
	out := map[string][]byte{}
	r.object(func(k []byte) {
		key := r.mapKey(k)
		if r.null() {
			out[key] = nil
			return
		}
		s := r.str()
		if !r.ok {
			return
		}
		b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(b, []byte(s))
		if err != nil {
			r.fail()
			return
		}
		out[key] = b[:n]
	})
	return out
}

func (r *fastReader) objectMeta(m *metav1.ObjectMeta) {
	if r.null() {
		return
	}
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "name":
			r.once(&seen, 0)
			r.stringInto(&m.Name)
		case "generateName":
			r.once(&seen, 1)
			r.stringInto(&m.GenerateName)
		case "namespace":
			r.once(&seen, 2)
			r.stringInto(&m.Namespace)
		case "selfLink":
			r.once(&seen, 3)
			//lint:ignore SA1019 encoding/json fills it too, and answers must not change
			r.stringInto(&m.SelfLink)
		case "uid":
			r.once(&seen, 4)
			r.stringInto((*string)(&m.UID))
		case "resourceVersion":
			r.once(&seen, 5)
			r.stringInto(&m.ResourceVersion)
		case "generation":
			r.once(&seen, 6)
			r.int64Into(&m.Generation)
		case "creationTimestamp":
			r.once(&seen, 7)
			r.timeInto(&m.CreationTimestamp)
		case "deletionTimestamp":
			r.once(&seen, 8)
			if r.null() {
				m.DeletionTimestamp = nil
				return
			}
			m.DeletionTimestamp = &metav1.Time{}
			r.timeInto(m.DeletionTimestamp)
		case "deletionGracePeriodSeconds":
			r.once(&seen, 9)
			if r.null() {
				m.DeletionGracePeriodSeconds = nil
				return
			}
			var v int64
			r.int64Into(&v)
			m.DeletionGracePeriodSeconds = &v
		case "labels":
			r.once(&seen, 10)
			m.Labels = r.stringMap()
		case "annotations":
			r.once(&seen, 11)
			m.Annotations = r.stringMap()
		case "ownerReferences":
			r.once(&seen, 12)
			m.OwnerReferences = r.ownerReferences()
		case "finalizers":
			r.once(&seen, 13)
			m.Finalizers = r.strings()
		case "managedFields":
			r.once(&seen, 14)
			m.ManagedFields = r.managedFields()
		default:
			r.unknown(k, objectMetaFields)
		}
	})
}

// timeInto reads a metav1.Time with its own UnmarshalJSON, short-cutting
// the common unescaped ASCII string, which that method would unquote with
// encoding/json and parse the same way.
func (r *fastReader) timeInto(t *metav1.Time) {
	raw := r.rawValue()
	if !r.ok {
		return
	}
	if len(raw) >= 2 && raw[0] == '"' && isPlainASCII(raw[1:len(raw)-1]) {
		pt, err := time.Parse(time.RFC3339, string(raw[1:len(raw)-1]))
		if err != nil {
			r.fail()
			return
		}
		t.Time = pt.Local()
		return
	}
	if err := t.UnmarshalJSON(raw); err != nil {
		r.fail()
	}
}

func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= utf8.RuneSelf || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

func (r *fastReader) ownerReferences() []metav1.OwnerReference {
	if r.null() {
		return nil
	}
	out := []metav1.OwnerReference{}
	r.array(func() {
		var o metav1.OwnerReference
		if !r.null() {
			var seen uint64
			r.object(func(k []byte) {
				switch string(k) {
				case "apiVersion":
					r.once(&seen, 0)
					r.stringInto(&o.APIVersion)
				case "kind":
					r.once(&seen, 1)
					r.stringInto(&o.Kind)
				case "name":
					r.once(&seen, 2)
					r.stringInto(&o.Name)
				case "uid":
					r.once(&seen, 3)
					r.stringInto((*string)(&o.UID))
				case "controller":
					r.once(&seen, 4)
					o.Controller = r.boolPtr()
				case "blockOwnerDeletion":
					r.once(&seen, 5)
					o.BlockOwnerDeletion = r.boolPtr()
				default:
					r.unknown(k, ownerRefFields)
				}
			})
		}
		out = append(out, o)
	})
	return out
}

func (r *fastReader) managedFields() []metav1.ManagedFieldsEntry {
	if r.null() {
		return nil
	}
	out := []metav1.ManagedFieldsEntry{}
	r.array(func() {
		var e metav1.ManagedFieldsEntry
		if !r.null() {
			var seen uint64
			r.object(func(k []byte) {
				switch string(k) {
				case "manager":
					r.once(&seen, 0)
					r.stringInto(&e.Manager)
				case "operation":
					r.once(&seen, 1)
					r.stringInto((*string)(&e.Operation))
				case "apiVersion":
					r.once(&seen, 2)
					r.stringInto(&e.APIVersion)
				case "time":
					r.once(&seen, 3)
					if r.null() {
						e.Time = nil
						return
					}
					e.Time = &metav1.Time{}
					r.timeInto(e.Time)
				case "fieldsType":
					r.once(&seen, 4)
					r.stringInto(&e.FieldsType)
				case "fieldsV1":
					r.once(&seen, 5)
					if r.null() {
						e.FieldsV1 = nil
						return
					}
					raw := r.rawValue()
					if !r.ok {
						return
					}
					e.FieldsV1 = &metav1.FieldsV1{}
					if err := e.FieldsV1.UnmarshalJSON(raw); err != nil {
						r.fail()
					}
				case "subresource":
					r.once(&seen, 6)
					r.stringInto(&e.Subresource)
				default:
					r.unknown(k, managedFieldNames)
				}
			})
		}
		out = append(out, e)
	})
	return out
}
