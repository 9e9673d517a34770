package authz

import (
	"context"
	"errors"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// SubjectAccessReviews asks the API server, one SubjectAccessReview per
// question. It caches nothing; wrap it in a Cached.
type SubjectAccessReviews struct {
	client kubernetes.Interface
}

// NewSubjectAccessReviews returns an Authorizer that asks through client,
// whose identity needs create on subjectaccessreviews.authorization.k8s.io.
func NewSubjectAccessReviews(client kubernetes.Interface) (*SubjectAccessReviews, error) {
	if client == nil {
		return nil, errors.New("authorization: nil kubernetes client")
	}
	return &SubjectAccessReviews{client: client}, nil
}

// Allowed implements Authorizer.
func (s *SubjectAccessReviews) Allowed(ctx context.Context, a Attributes) (bool, error) {
	review, err := s.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, SubjectAccessReview(a), metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("subject access review: %w", err)
	}
	if review.Status.EvaluationError != "" && !review.Status.Allowed {
		// A refusal the authorizer could not fully evaluate is no answer:
		// the user may well be allowed once the error is gone.
		return false, fmt.Errorf("subject access review: %s", review.Status.EvaluationError)
	}
	return review.Status.Allowed && !review.Status.Denied, nil
}

// SubjectAccessReview is the review asking a's question.
func SubjectAccessReview(a Attributes) *authorizationv1.SubjectAccessReview {
	var extra map[string]authorizationv1.ExtraValue
	if len(a.User.Extra) > 0 {
		extra = make(map[string]authorizationv1.ExtraValue, len(a.User.Extra))
		for k, v := range a.User.Extra {
			extra[k] = v
		}
	}
	return &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   a.User.Name,
			UID:    a.User.UID,
			Groups: a.User.Groups,
			Extra:  extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: a.Namespace,
				Verb:      a.Check.Verb,
				Group:     a.Check.Group,
				Resource:  a.Check.Resource,
				Name:      a.Check.Name,
			},
		},
	}
}
