package cluster

// ServiceAccounts and their Roles, for tests and the demo that run flinkgate
// as neither admin nor cluster-admin, or give the platform's ServiceAccount
// its Role in a target namespace.

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceAccount names a ServiceAccount.
type ServiceAccount struct{ Namespace, Name string }

// User is the user name the API server gives the ServiceAccount's tokens,
// and the one a client impersonates it as.
func (sa ServiceAccount) User() string {
	return "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
}

func (sa ServiceAccount) subject() rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: sa.Namespace, Name: sa.Name}
}

// CreateServiceAccount creates the ServiceAccount unless it exists.
func (c *Cluster) CreateServiceAccount(ctx context.Context, sa ServiceAccount) error {
	obj := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: sa.Namespace, Name: sa.Name}}
	if _, err := c.client.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/%s: %w", sa.Namespace, sa.Name, err)
	}
	return nil
}

// ServiceAccountKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount with a token valid for ttl, and returns its path.
func (c *Cluster) ServiceAccountKubeconfig(ctx context.Context, sa ServiceAccount, ttl time.Duration) (string, error) {
	token, err := c.ServiceAccountToken(ctx, sa.Namespace, sa.Name, ttl)
	if err != nil {
		return "", err
	}
	return c.KubeconfigFor(token)
}

// GrantRole gives sa the rules in namespace, with a Role and a RoleBinding
// both called name; a second call replaces the rules, so a test can take
// one away.
func (c *Cluster) GrantRole(ctx context.Context, namespace, name string, sa ServiceAccount, rules []rbacv1.PolicyRule) error {
	api := c.client.RbacV1()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Rules: rules}
	if _, err := api.Roles(namespace).Create(ctx, role, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		_, err = api.Roles(namespace).Update(ctx, role, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("update role %s/%s: %w", namespace, name, err)
		}
	} else if err != nil {
		return fmt.Errorf("create role %s/%s: %w", namespace, name, err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{sa.subject()},
	}
	if _, err := api.RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create role binding %s/%s: %w", namespace, name, err)
	}
	return nil
}
