package api

import (
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ConfigMaps, Secrets and ServiceAccounts.

const immutableDataMsg = "field is immutable when `immutable` is set"

func configMapStrategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList { return validateConfigMap(obj.(*corev1.ConfigMap)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			cm, oldCM := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
			var errs field.ErrorList
			if isTrue(oldCM.Immutable) {
				if !isTrue(cm.Immutable) {
					errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableDataMsg))
				}
				if !stringMapsEqual(cm.Data, oldCM.Data) {
					errs = append(errs, field.Forbidden(field.NewPath("data"), immutableDataMsg))
				}
				if !bytesMapsEqual(cm.BinaryData, oldCM.BinaryData) {
					errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableDataMsg))
				}
			}
			return append(errs, validateConfigMap(cm)...)
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
			ageColumn,
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			cm := obj.(*corev1.ConfigMap)
			return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), TranslateTimestampSince(cm.CreationTimestamp, now)}
		},
	}
}

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := validateNamespacedMeta(&cm.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	size := 0
	for _, k := range sortedKeys(cm.Data) {
		p := field.NewPath("data").Key(k)
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(p, k, msg))
		}
		if _, dup := cm.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(p, k, "duplicate of key present in binaryData"))
		}
		size += len(cm.Data[k])
	}
	for _, k := range sortedKeys(cm.BinaryData) {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(k), k, msg))
		}
		size += len(cm.BinaryData[k])
	}
	// ConfigMaps share the Secret size limit: both end up in etcd and in
	// every kubelet's memory.
	if size > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", corev1.MaxSecretSize))
	}
	return errs
}

func secretStrategy() Strategy {
	return Strategy{
		Default:  func(obj runtime.Object) { defaultSecret(obj.(*corev1.Secret)) },
		Validate: func(obj runtime.Object) field.ErrorList { return validateSecret(obj.(*corev1.Secret)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			s, oldS := obj.(*corev1.Secret), old.(*corev1.Secret)
			errs := apivalidation.ValidateImmutableField(s.Type, oldS.Type, field.NewPath("type"))
			if isTrue(oldS.Immutable) {
				if !isTrue(s.Immutable) {
					errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableDataMsg))
				}
				if !bytesMapsEqual(s.Data, oldS.Data) {
					errs = append(errs, field.Forbidden(field.NewPath("data"), immutableDataMsg))
				}
			}
			return append(errs, validateSecret(s)...)
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Type", "string", corev1.Secret{}.SwaggerDoc()["type"]),
			col("Data", "string", corev1.Secret{}.SwaggerDoc()["data"]),
			ageColumn,
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			s := obj.(*corev1.Secret)
			return []interface{}{s.Name, string(s.Type), int64(len(s.Data)), TranslateTimestampSince(s.CreationTimestamp, now)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"type": string(obj.(*corev1.Secret).Type)}
		},
	}
}

// defaultSecret merges stringData into data (stringData is write-only: the
// v1 API folds it into data, overriding keys present in both) and defaults
// the type to Opaque.
func defaultSecret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

// redacted stands in for secret values in error messages.
const redacted = "<secret contents redacted>"

func validateSecret(s *corev1.Secret) field.ErrorList {
	errs := validateNamespacedMeta(&s.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	dataPath := field.NewPath("data")
	size := 0
	for _, k := range sortedKeys(s.Data) {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(dataPath.Key(k), k, msg))
		}
		size += len(s.Data[k])
	}
	if size > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(dataPath, "", corev1.MaxSecretSize))
	}

	required := func(key string) {
		if _, ok := s.Data[key]; !ok {
			errs = append(errs, field.Required(dataPath.Key(key), ""))
		}
	}
	wellFormedJSON := func(key string) {
		v, ok := s.Data[key]
		if !ok {
			errs = append(errs, field.Required(dataPath.Key(key), ""))
			return
		}
		if err := json.Unmarshal(v, &map[string]interface{}{}); err != nil {
			errs = append(errs, field.Invalid(dataPath.Key(key), redacted, err.Error()))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		wellFormedJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		wellFormedJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		_, user := s.Data[corev1.BasicAuthUsernameKey]
		_, pass := s.Data[corev1.BasicAuthPasswordKey]
		if !user && !pass {
			required(corev1.BasicAuthUsernameKey)
			required(corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		required(corev1.TLSCertKey)
		required(corev1.TLSPrivateKeyKey)
	}
	return errs
}

func serviceAccountStrategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList {
			sa := obj.(*corev1.ServiceAccount)
			return validateNamespacedMeta(&sa.ObjectMeta, apivalidation.NameIsDNSSubdomain)
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			sa := obj.(*corev1.ServiceAccount)
			return validateNamespacedMeta(&sa.ObjectMeta, apivalidation.NameIsDNSSubdomain)
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
			ageColumn,
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			sa := obj.(*corev1.ServiceAccount)
			return []interface{}{sa.Name, int64(len(sa.Secrets)), TranslateTimestampSince(sa.CreationTimestamp, now)}
		},
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// stringMapsEqual treats nil and empty as equal: a client that sends
// "data: {}" has not changed an immutable ConfigMap without data.
func stringMapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func bytesMapsEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || string(w) != string(v) {
			return false
		}
	}
	return true
}
