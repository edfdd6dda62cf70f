package esm

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/flowbus/flowbus/shared/pattern"
)

// recordFields are the fields a Kinesis filter pattern can test: the members
// of the record's kinesis object, with data base64-decoded and parsed as JSON.
var recordFields = map[string]bool{
	"data": true, "partitionKey": true, "sequenceNumber": true,
	"approximateArrivalTimestamp": true, "kinesisSchemaVersion": true, "encryptionType": true,
}

// recordFilter is a mapping's FilterCriteria.
type recordFilter struct {
	patterns []*pattern.Pattern
	data     []bool // the pattern tests data
	anyData  bool
}

func compileFilters(patterns []string) (*recordFilter, error) {
	c, err := pattern.CompileAll(patterns, pattern.Lambda)
	if err != nil {
		return nil, fmt.Errorf("FilterCriteria: %w", err)
	}
	f := &recordFilter{patterns: c}
	for _, p := range c {
		d := p.HasField("data")
		f.data = append(f.data, d)
		f.anyData = f.anyData || d
	}
	return f, nil
}

func (f *recordFilter) unknownFields() []string {
	var out []string
	for _, p := range f.patterns {
		for _, name := range p.Fields() {
			if !recordFields[name] {
				out = append(out, name)
			}
		}
	}
	return out
}

// match reports whether a record passes the filters (it passes when there
// are none). A record whose data is not JSON matches no pattern that tests
// data, as in Lambda, but can match one on the other fields.
func (f *recordFilter) match(r *types.Record) bool {
	if len(f.patterns) == 0 {
		return true
	}
	doc := map[string]any{
		"kinesisSchemaVersion":        "1.0",
		"partitionKey":                aws.ToString(r.PartitionKey),
		"sequenceNumber":              aws.ToString(r.SequenceNumber),
		"approximateArrivalTimestamp": json.Number(epochSeconds(aws.ToTime(r.ApproximateArrivalTimestamp))),
	}
	if r.EncryptionType != "" && r.EncryptionType != types.EncryptionTypeNone {
		doc["encryptionType"] = string(r.EncryptionType)
	}
	dataJSON := false
	if f.anyData {
		if data, err := pattern.DecodeJSON(r.Data); err == nil {
			doc["data"] = data
			dataJSON = true
		}
	}
	for i, p := range f.patterns {
		if f.data[i] && !dataJSON {
			continue
		}
		if p.Match(doc) {
			return true
		}
	}
	return false
}
