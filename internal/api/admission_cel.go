package api

import (
	"fmt"
	"sync"

	admv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// matchConditionCompiler compiles match conditions in the environment
// kube-apiserver's admission plugins evaluate them in, so a condition
// Kubernetes refuses at creation is refused here, with its reason, instead
// of failing every request it would have matched. Built on first use: the
// CEL environment costs some milliseconds.
var matchConditionCompiler = sync.OnceValue(func() plugincel.Compiler {
	return plugincel.NewCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion(), true))
})

// compileMatchCondition checks one match condition's expression; params
// says whether the policy's params are in scope (policies yes, webhooks no).
func compileMatchCondition(c admv1.MatchCondition, params bool, fld *field.Path) *field.Error {
	mc := matchconditions.MatchCondition(c)
	res := matchConditionCompiler().CompileCELExpression(&mc,
		plugincel.OptionalVariableDeclarations{HasParams: params, HasAuthorizer: true, StrictCost: true}, environment.NewExpressions)
	if res.Error == nil {
		return nil
	}
	switch res.Error.Type {
	case apiservercel.ErrorTypeRequired:
		return field.Required(fld, res.Error.Detail)
	case apiservercel.ErrorTypeInvalid:
		return field.Invalid(fld, c.Expression, res.Error.Detail)
	}
	return field.InternalError(fld, fmt.Errorf("compile match condition: %w", res.Error))
}
