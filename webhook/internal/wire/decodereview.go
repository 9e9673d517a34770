// This file is over 400 lines because it reads every field of an AdmissionReview of ConfigMaps,
// as encoding/json would, one reader per type.

package wire

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
	r.fields(reviewFields, func(field string) {
		switch field {
		case "apiVersion":
			r.stringInto(&out.TypeMeta.APIVersion)
		case "kind":
			r.stringInto(&out.TypeMeta.Kind)
		case "request":
			if r.null() {
				out.Request = nil
				return
			}
			out.Request = &wireRequest{}
			r.request(out.Request)
		}
	})
	r.ws()
	if !r.ok || r.i != len(r.b) {
		return fastReview{}, errLeftToJSON
	}
	return out, nil
}

// fastReview is the fast reader's wireReview.
type fastReview struct {
	TypeMeta metav1.TypeMeta
	Request  *wireRequest
}

// The fields of each type, spelled as their JSON tags are: fields reads
// these and refuses keys that encoding/json would match regardless of case.
var (
	reviewFields      = []string{"apiVersion", "kind", "request"}
	requestFields     = []string{"uid", "kind", "resource", "subResource", "requestKind", "requestResource", "requestSubResource", "name", "namespace", "operation", "userInfo", "object", "oldObject", "dryRun", "options"}
	gvkFields         = []string{"group", "version", "kind"}
	gvrFields         = []string{"group", "version", "resource"}
	userFields        = []string{"username", "uid", "groups", "extra"}
	configMapFields   = []string{"apiVersion", "kind", "metadata", "immutable", "data", "binaryData"}
	objectMetaFields  = []string{"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields"}
	ownerRefFields    = []string{"apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"}
	managedFieldNames = []string{"manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"}
)

func (r *fastReader) request(req *wireRequest) {
	r.fields(requestFields, func(field string) {
		switch field {
		case "uid":
			r.stringInto((*string)(&req.UID))
		case "kind":
			r.gvk(&req.Kind)
		case "resource":
			r.gvr(&req.Resource)
		case "subResource":
			r.stringInto(&req.SubResource)
		case "requestKind":
			if r.null() {
				req.RequestKind = nil
				return
			}
			req.RequestKind = &metav1.GroupVersionKind{}
			r.gvk(req.RequestKind)
		case "requestResource":
			if r.null() {
				req.RequestResource = nil
				return
			}
			req.RequestResource = &metav1.GroupVersionResource{}
			r.gvr(req.RequestResource)
		case "requestSubResource":
			r.stringInto(&req.RequestSubResource)
		case "name":
			r.stringInto(&req.Name)
		case "namespace":
			r.stringInto(&req.Namespace)
		case "operation":
			r.stringInto((*string)(&req.Operation))
		case "userInfo":
			r.userInfo(&req.UserInfo)
		case "object":
			req.Object = r.configMapPtr()
		case "oldObject":
			req.OldObject = r.configMapPtr()
		case "dryRun":
			req.DryRun = r.boolPtr()
		case "options":
			raw := r.rawValue()
			if r.ok && string(raw) != "null" {
				req.Options.Raw = bytes.Clone(raw)
			}
		}
	})
}

func (r *fastReader) gvk(v *metav1.GroupVersionKind) {
	if r.null() {
		return
	}
	r.fields(gvkFields, func(field string) {
		switch field {
		case "group":
			r.stringInto(&v.Group)
		case "version":
			r.stringInto(&v.Version)
		case "kind":
			r.stringInto(&v.Kind)
		}
	})
}

func (r *fastReader) gvr(v *metav1.GroupVersionResource) {
	if r.null() {
		return
	}
	r.fields(gvrFields, func(field string) {
		switch field {
		case "group":
			r.stringInto(&v.Group)
		case "version":
			r.stringInto(&v.Version)
		case "resource":
			r.stringInto(&v.Resource)
		}
	})
}

func (r *fastReader) userInfo(u *authenticationv1.UserInfo) {
	if r.null() {
		return
	}
	r.fields(userFields, func(field string) {
		switch field {
		case "username":
			r.stringInto(&u.Username)
		case "uid":
			r.stringInto(&u.UID)
		case "groups":
			u.Groups = r.strings()
		case "extra":
			if r.null() {
				u.Extra = nil
				return
			}
			u.Extra = map[string]authenticationv1.ExtraValue{}
			r.object(func(k []byte) {
				key := r.mapKey(k)
				u.Extra[key] = r.strings()
			})
		}
	})
}

// configMapPtr reads a *ConfigMap: null is nil.
func (r *fastReader) configMapPtr() *corev1.ConfigMap {
	if r.null() {
		return nil
	}
	cm := &corev1.ConfigMap{}
	r.fields(configMapFields, func(field string) {
		switch field {
		case "apiVersion":
			r.stringInto(&cm.APIVersion)
		case "kind":
			r.stringInto(&cm.Kind)
		case "metadata":
			r.objectMeta(&cm.ObjectMeta)
		case "immutable":
			cm.Immutable = r.boolPtr()
		case "data":
			cm.Data = r.stringMap()
		case "binaryData":
			cm.BinaryData = r.bytesMap()
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
	r.fields(objectMetaFields, func(field string) {
		switch field {
		case "name":
			r.stringInto(&m.Name)
		case "generateName":
			r.stringInto(&m.GenerateName)
		case "namespace":
			r.stringInto(&m.Namespace)
		case "selfLink":
			//lint:ignore SA1019 encoding/json fills it too, and answers must not change
			r.stringInto(&m.SelfLink)
		case "uid":
			r.stringInto((*string)(&m.UID))
		case "resourceVersion":
			r.stringInto(&m.ResourceVersion)
		case "generation":
			r.int64Into(&m.Generation)
		case "creationTimestamp":
			r.timeInto(&m.CreationTimestamp)
		case "deletionTimestamp":
			if r.null() {
				m.DeletionTimestamp = nil
				return
			}
			m.DeletionTimestamp = &metav1.Time{}
			r.timeInto(m.DeletionTimestamp)
		case "deletionGracePeriodSeconds":
			if r.null() {
				m.DeletionGracePeriodSeconds = nil
				return
			}
			var v int64
			r.int64Into(&v)
			m.DeletionGracePeriodSeconds = &v
		case "labels":
			m.Labels = r.stringMap()
		case "annotations":
			m.Annotations = r.stringMap()
		case "ownerReferences":
			m.OwnerReferences = r.ownerReferences()
		case "finalizers":
			m.Finalizers = r.strings()
		case "managedFields":
			m.ManagedFields = r.managedFields()
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
			r.fields(ownerRefFields, func(field string) {
				switch field {
				case "apiVersion":
					r.stringInto(&o.APIVersion)
				case "kind":
					r.stringInto(&o.Kind)
				case "name":
					r.stringInto(&o.Name)
				case "uid":
					r.stringInto((*string)(&o.UID))
				case "controller":
					o.Controller = r.boolPtr()
				case "blockOwnerDeletion":
					o.BlockOwnerDeletion = r.boolPtr()
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
			r.fields(managedFieldNames, func(field string) {
				switch field {
				case "manager":
					r.stringInto(&e.Manager)
				case "operation":
					r.stringInto((*string)(&e.Operation))
				case "apiVersion":
					r.stringInto(&e.APIVersion)
				case "time":
					if r.null() {
						e.Time = nil
						return
					}
					e.Time = &metav1.Time{}
					r.timeInto(e.Time)
				case "fieldsType":
					r.stringInto(&e.FieldsType)
				case "fieldsV1":
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
					r.stringInto(&e.Subresource)
				}
			})
		}
		out = append(out, e)
	})
	return out
}
