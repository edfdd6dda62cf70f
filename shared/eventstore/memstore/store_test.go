package memstore_test

import (
	"testing"

	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/eventstore/eventstoretest"
	"github.com/flowbus/flowbus/shared/eventstore/memstore"
)

func TestContract(t *testing.T) {
	eventstoretest.Run(t, func(*testing.T) eventstore.Store { return memstore.New() })
}
