// Command attack tries, as an outsider with raw Temporal access would, to step
// around meshflow's trust boundary on a running deployment; the multi-process run
// (scripts/multiprocess.sh) uses it against real processes. Each attack must be
// refused; it exits 1 naming any that was not.
//
//	go run ./test/security/attack --temporal-address 127.0.0.1:7233 \
//	  --waiting refresh/finance/global-kpis/… --steward maria.rossi
//
// It tries: a ProductRefresh whose input carries the product with approval
// "never" (forged governance); an unsigned request naming the product; a decide
// update and a decide signal in a steward's name with the right manifest hash on
// the run --waiting (forged sign-off); and an AccessRequest whose approver is the
// attacker (no grant without consent).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/refresh"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

func main() {
	addr := flag.String("temporal-address", "127.0.0.1:7233", "Temporal frontend")
	namespace := flag.String("namespace", "default", "Temporal namespace")
	waiting := flag.String("waiting", "", "workflow ID of a run waiting for approval")
	steward := flag.String("steward", "", "a steward of that run, whose name the forged decisions use")
	product := flag.String("product", "finance/global-kpis", "the product to forge runs of")
	queue := flag.String("task-queue", "meshflow-finance", "its task queue")
	restricted := flag.String("restricted", "sales-emea/regional-sales", "a restricted product to ask access to")
	restrictedQueue := flag.String("restricted-task-queue", "meshflow-sales-emea", "its task queue")
	flag.Parse()
	c, err := client.Dial(client.Options{HostPort: *addr, Namespace: *namespace})
	if err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(2)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := attacker{c: c, ctx: ctx}
	suffix := time.Now().UTC().Format("20060102T150405")
	domain, name, _ := strings.Cut(*product, "/")
	forged := refresh.Product{Domain: domain, Name: name, TaskQueue: *queue, SQL: "SELECT 1 AS x", Governance: refresh.Governance{Approval: "never"}}
	a.try("forged governance (the product in the input, approval never)", func() error {
		return a.refused(refresh.WorkflowID(*product, "forged-"+suffix), *queue, refresh.RefreshInput{Product: forged, Submitter: "mallory"})
	})
	a.try("unsigned request naming the product", func() error {
		return a.refused(refresh.WorkflowID(*product, "unsigned-"+suffix), *queue, refresh.RefreshInput{Ref: *product, Submitter: *steward})
	})
	if *waiting != "" {
		a.try("forged sign-off: a decide update with the manifest hash", func() error { return a.forgedUpdate(*waiting, *steward) })
		a.try("forged sign-off: the decide signal", func() error { return a.forgedSignal(*waiting, *steward) })
	}
	a.try("access request approved by the attacker", func() error {
		req := access.Request{Product: *restricted, Requester: "mallory", Purpose: "steal", Duration: time.Hour, Approvers: []string{"mallory-friend"}, TaskQueue: *restrictedQueue}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: access.WorkflowID(*restricted, "mallory", suffix), TaskQueue: *restrictedQueue}, access.WorkflowAccessRequest, req)
		if err != nil {
			return err
		}
		return unauthorized(run.Get(ctx, nil))
	})
	fmt.Printf("attacks on the deployment: %d tried, %d refused\n", a.tried, a.tried-len(a.through))
	if len(a.through) > 0 {
		fmt.Fprintln(os.Stderr, "NOT REFUSED:", strings.Join(a.through, "; "))
		os.Exit(1)
	}
}

type attacker struct {
	c       client.Client
	ctx     context.Context
	tried   int
	through []string
}

func (a *attacker) try(name string, f func() error) {
	a.tried++
	if err := f(); err != nil {
		a.through = append(a.through, name+": "+err.Error())
		fmt.Printf("NOT REFUSED  %s: %v\n", name, err)
		return
	}
	fmt.Printf("refused      %s\n", name)
}

// refused starts a forged refresh and checks that it ends Unauthorized.
func (a *attacker) refused(id, queue string, in refresh.RefreshInput) error {
	run, err := a.c.ExecuteWorkflow(a.ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, refresh.WorkflowProductRefresh, in)
	if err != nil {
		return err
	}
	return unauthorized(run.Get(a.ctx, nil))
}

func unauthorized(err error) error {
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok && appErr.Type() == refresh.ErrUnauthorized {
		return nil
	}
	return fmt.Errorf("the run ended with %v, want %s", err, refresh.ErrUnauthorized)
}

func (a *attacker) status(id string) (refresh.Status, error) {
	var st refresh.Status
	v, err := a.c.QueryWorkflow(a.ctx, id, "", refresh.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	return st, err
}

func (a *attacker) forgedUpdate(id, steward string) error {
	st, err := a.status(id)
	if err != nil {
		return err
	}
	h, err := a.c.UpdateWorkflow(a.ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: refresh.UpdateDecide, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{refresh.Decision{Principal: steward, Approve: true, ManifestHash: st.ManifestHash}}})
	if err == nil {
		err = h.Get(a.ctx, nil)
	}
	if err == nil {
		return errors.New("the update was accepted")
	}
	return a.stillWaiting(id)
}

func (a *attacker) forgedSignal(id, steward string) error {
	st, err := a.status(id)
	if err != nil {
		return err
	}
	if err := a.c.SignalWorkflow(a.ctx, id, "", refresh.SignalDecide, refresh.Decision{Principal: steward, Approve: true, ManifestHash: st.ManifestHash}); err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if now, err := a.status(id); err == nil && len(now.Refused) > len(st.Refused) {
			return a.stillWaiting(id)
		}
	}
	return errors.New("the signal was not recorded as refused")
}

func (a *attacker) stillWaiting(id string) error {
	st, err := a.status(id)
	if err != nil {
		return err
	}
	if st.Stage != refresh.StageAwaitingApproval || len(st.Approvals) != 0 {
		b, _ := json.Marshal(st.Approvals)
		return fmt.Errorf("the run moved on: stage %s, approvals %s", st.Stage, b)
	}
	return nil
}
