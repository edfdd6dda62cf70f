package sqslocal

import "testing"

// The expected digests are the values moto's SQS tests pin as what SQS returns
// for these attributes (tests/test_sqs/test_sqs.py).
func TestMD5OfAttributes(t *testing.T) {
	number := func(v string) attributeValue { return attributeValue{DataType: "Number", StringValue: v} }
	tests := []struct {
		name  string
		attrs map[string]attributeValue
		want  string
	}{
		{
			name:  "number",
			attrs: map[string]attributeValue{"timestamp": number("1493147359900")},
			want:  "235c5c510d26fb653d073faed50ae77c",
		},
		{
			name:  "another number",
			attrs: map[string]attributeValue{"timestamp": number("1493147359901")},
			want:  "994258b45346a2cc3f9cbb611aa7af30",
		},
		{
			name:  "name with periods, hyphens and underscores",
			attrs: map[string]attributeValue{"SOME_Valid.attribute-Name": number("1493147359900")},
			want:  "36655e7e9d7c0e8479fa3f3f42247ae7",
		},
		{
			name: "string, binary and number, sorted by name, UTF-8",
			attrs: map[string]attributeValue{
				"ccc":             {DataType: "String", StringValue: "testjunk"},
				"aaa":             {DataType: "Binary", BinaryValue: []byte{2, 3, 4}},
				"zzz":             number("0230.01"),
				"öther_encodings": {DataType: "String", StringValue: "Tüst"},
			},
			want: "8ae21a7957029ef04146b42aeaa18a22",
		},
		{
			name:  "none",
			attrs: nil,
			want:  "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := md5OfAttributes(tt.attrs); got != tt.want {
				t.Errorf("md5OfAttributes = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMD5Hex(t *testing.T) {
	if got, want := md5Hex("derp"), "58fd9edd83341c29f1aebba81c31e257"; got != want {
		t.Errorf("md5Hex(derp) = %q, want %q", got, want)
	}
}

func TestValidNumber(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0", true},
		{"-12.5", true},
		{"+.5", true},
		{"1e10", true},
		{"0230.01", true},
		{"12345678901234567890123456789012345678", true},
		{"123456789012345678901234567890123456789", false},
		{"1.", true},
		{"", false},
		{"abc", false},
		{"1,5", false},
		{"--1", false},
	}
	for _, tt := range tests {
		if got := validNumber(tt.in); got != tt.want {
			t.Errorf("validNumber(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFirstDisallowedRune(t *testing.T) {
	tests := []struct {
		in      string
		wantBad bool
		want    rune
	}{
		{"plain text\twith\ttabs\r\n", false, 0},
		{"emoji 😀 and é", false, 0},
		{"nul \x00", true, 0},
		{"bell \x07", true, 7},
		{"\uFFFE", true, 0xFFFE},
		{"\uE000\uFFFD", false, 0},
		{"bad utf-8 \xff", true, 0xFFFD},
	}
	for _, tt := range tests {
		got, bad := firstDisallowedRune(tt.in)
		if bad != tt.wantBad || (bad && got != tt.want) {
			t.Errorf("firstDisallowedRune(%q) = %#x, %v; want %#x, %v", tt.in, got, bad, tt.want, tt.wantBad)
		}
	}
}
