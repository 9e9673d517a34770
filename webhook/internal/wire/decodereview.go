package wire

import (
	"bytes"
	"encoding/base64"

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
