package wire

import (
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file holds the fast reader's readers of an object's metadata
// (decodereview.go), field by field as encoding/json fills them.

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
