package workflows

import (
	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/refresh"
	"go.temporal.io/sdk/workflow"
)

func workflowOptions() workflow.RegisterOptions {
	return workflow.RegisterOptions{Name: refresh.WorkflowProductRefresh}
}

// Registry is what workflows need from a worker.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers every meshflow workflow under its name.
func Register(r Registry) {
	r.RegisterWorkflowWithOptions(ProductRefresh, workflowOptions())
	r.RegisterWorkflowWithOptions(AccessRequest, workflow.RegisterOptions{Name: access.WorkflowAccessRequest})
}
