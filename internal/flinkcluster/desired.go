package flinkcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flinkgate.io/flinkgate/internal/flinkop"
)

// Desired is the object flinkgate applies for a translated Deployment: the
// translation, annotated with the hash of itself (AnnotationSpecHash), so a
// FlinkDeployment whose hash and labels match needs no write.
func Desired(fd *flinkop.FlinkDeployment) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(fd)
	if err != nil {
		return nil, fmt.Errorf("encode flinkdeployment %s/%s: %w", fd.Metadata.Namespace, fd.Metadata.Name, err)
	}
	sum := sha256.Sum256(b)
	// The scheme's decoder keeps integers int64, as the API server's are.
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("decode flinkdeployment %s/%s: %w", fd.Metadata.Namespace, fd.Metadata.Name, err)
	}
	u.SetAnnotations(map[string]string{AnnotationSpecHash: hex.EncodeToString(sum[:16])})
	return u, nil
}

// upToDate reports whether the stored FlinkDeployment carries what desired
// would write: the same hash and labels. Status and the operator's own
// metadata are not compared, so the operator's writes cause none.
func upToDate(current, desired *unstructured.Unstructured) bool {
	if current.GetAnnotations()[AnnotationSpecHash] != desired.GetAnnotations()[AnnotationSpecHash] {
		return false
	}
	have := current.GetLabels()
	for k, v := range desired.GetLabels() {
		if have[k] != v {
			return false
		}
	}
	return true
}

// ownedBy reports whether a FlinkDeployment's labels name the Deployment
// with this UID; one labelled for another Deployment, or not labelled, is
// never adopted.
func ownedBy(fd *unstructured.Unstructured, namespace, name, uid string) bool {
	l := fd.GetLabels()
	return l[flinkop.LabelDeploymentUID] == uid && l[flinkop.LabelDeploymentNamespace] == namespace && l[flinkop.LabelDeploymentName] == name
}
