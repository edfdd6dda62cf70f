package schema

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The design note's two versions of a workflow event
// (../shared/design/event-bus-integration.md, "Event Versioning"):
// WorkflowEventV1 is type, workflow_id and timestamp, with no data;
// WorkflowEventV2 adds version = 2 and data.
//
// RegisterWorkflowEvents registers them for every "workflow.*" type; the
// upcaster gives a version 1 event the data version 2 requires. They are an
// example: Default does not include them, since most producers send
// workflow.* events with data and no version.

// WorkflowTypes is the pattern the design note's events are registered under.
const WorkflowTypes = "workflow.*"

// RegisterWorkflowEvents registers WorkflowEventV1, WorkflowEventV2 and the
// upcaster between them.
func RegisterWorkflowEvents(r *Registry) {
	r.Register(WorkflowTypes, 1, Schema{NoData: true})
	r.Register(WorkflowTypes, 2, Schema{AllowExtra: true, Fields: map[string]Field{
		"status": {Kind: String, Required: true},
	}})
	r.RegisterUpcaster(WorkflowTypes, 1, upcastWorkflowV1)
}

// upcastWorkflowV1 gives a version 1 event the data version 2 requires.
// Version 1 carried no data, so the status is "unknown": the upcaster may
// not invent what the event never said.
func upcastWorkflowV1(data json.RawMessage) (json.RawMessage, error) {
	if len(data) != 0 && string(data) != "null" && string(data) != "{}" {
		return nil, fmt.Errorf("version 1 carries no data, got %d bytes", len(data))
	}
	return json.RawMessage(`{"status":"unknown","upcast_from":1}`), nil
}

// Sets are the built-in schema sets a deployment can switch on by name
// (FLOWBUS_SCHEMAS).
var Sets = map[string]func(*Registry){
	"workflow-events": RegisterWorkflowEvents,
}

// Default is the registry flowbus's functions use, with the given policy for
// types no schema is registered for (FLOWBUS_UNKNOWN_TYPES) and the named
// built-in sets (FLOWBUS_SCHEMAS). Register your own types and versions here.
func Default(unknown UnknownPolicy, sets ...string) (*Registry, error) {
	r := NewRegistry(unknown)
	for _, name := range sets {
		register, ok := Sets[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("no built-in schema set %q", name)
		}
		register(r)
	}
	return r, nil
}

// PolicyFor returns RejectUnknown when reject is set, AcceptUnknown otherwise.
func PolicyFor(reject bool) UnknownPolicy {
	if reject {
		return RejectUnknown
	}
	return AcceptUnknown
}
