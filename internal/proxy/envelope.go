package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The fast path (fast.go) reads the JSON-RPC envelopes it handles itself:
// the SDK decodes each message several times, and each decoding costs more
// than everything else the gateway does for a call. The reading here is
// exact: keys match byte for byte, so it is case-sensitive, and anything
// that could be read two ways (a repeated key, an escaped key or name, an ID
// that is not a plain string or an exact integer) makes it give up, so that
// the SDK's path takes the message.

// maxMembers bounds the members of an object read here; the envelopes the
// fast path takes have at most five.
const maxMembers = 8

// A member is one member of a JSON object as written: its key without the
// quotes, and its value.
type member struct {
	key, value []byte
}

// objectMembers appends the members of the JSON object data to dst, in
// order. data must be valid JSON (json.Valid). ok is false if data is not an
// object, has more than maxMembers members, or has a key that repeats or is
// written with an escape.
func objectMembers(dst []member, data []byte) ([]member, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return dst, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return dst, true
	}
	start := len(dst)
	for {
		if i >= len(data) || data[i] != '"' {
			return dst, false
		}
		end := skipString(data, i)
		if end < 0 {
			return dst, false
		}
		key := data[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return dst, false
		}
		for _, m := range dst[start:] {
			if bytes.Equal(m.key, key) {
				return dst, false
			}
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return dst, false
		}
		i = skipSpace(data, i+1)
		vend := skipValue(data, i)
		if vend < 0 || len(dst)-start == maxMembers {
			return dst, false
		}
		dst = append(dst, member{key: key, value: data[i:vend]})
		i = skipSpace(data, vend)
		if i >= len(data) {
			return dst, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return dst, true
		default:
			return dst, false
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string that starts at data[i],
// or -1.
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index just past the (valid) JSON value that starts
// at data[i], or -1.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				end := skipString(data, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	for ; i < len(data); i++ {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// plainString returns the JSON string raw without its quotes, if it has no
// escapes and is valid UTF-8.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return "", false
	}
	return string(s), true
}

// maxExactID is the largest integer ID read here: the SDK reads numeric IDs
// as float64, which holds integers exactly up to 2^53.
const maxExactID = 1 << 53

// parseID reads a JSON-RPC ID that is a plain string or an integer.
func parseID(raw []byte) (jsonrpc.ID, bool) {
	if len(raw) > 0 && raw[0] == '"' {
		s, ok := plainString(raw)
		if !ok {
			return jsonrpc.ID{}, false
		}
		id, err := jsonrpc.MakeID(s)
		return id, err == nil
	}
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 16 {
		return jsonrpc.ID{}, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return jsonrpc.ID{}, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > maxExactID {
		return jsonrpc.ID{}, false
	}
	if raw[0] == '-' {
		n = -n
	}
	id, err := jsonrpc.MakeID(float64(n))
	return id, err == nil
}

// An envelope is a JSON-RPC message as written: a request (Method set; a
// notification when ID is not valid) or a response. Its byte slices alias
// the message it was read from.
type envelope struct {
	ID     jsonrpc.ID
	RawID  []byte // the ID as written; nil when absent
	Method string // "" for a response
	Params []byte // nil when absent
	Result []byte
	Error  []byte
}

func (e *envelope) isResponse() bool { return e.Method == "" }

// parseEnvelope reads one JSON-RPC message, which must be valid JSON. ok is
// false for a batch, an unknown member, and whatever objectMembers or
// parseID refuse.
func parseEnvelope(data []byte) (env envelope, ok bool) {
	var buf [maxMembers]member
	ms, ok := objectMembers(buf[:0], data)
	if !ok {
		return env, false
	}
	var version, method []byte
	for _, m := range ms {
		switch string(m.key) {
		case "jsonrpc":
			version = m.value
		case "id":
			env.RawID = m.value
		case "method":
			method = m.value
		case "params":
			env.Params = m.value
		case "result":
			env.Result = m.value
		case "error":
			env.Error = m.value
		default:
			return env, false
		}
	}
	if string(version) != `"2.0"` {
		return env, false
	}
	if env.RawID != nil {
		if env.ID, ok = parseID(env.RawID); !ok {
			return env, false
		}
	}
	if method != nil {
		s, ok := plainString(method)
		if !ok || s == "" || env.Result != nil || env.Error != nil {
			return env, false
		}
		env.Method = s
		return env, true
	}
	if !env.ID.IsValid() || (env.Result == nil) == (env.Error == nil) {
		return env, false
	}
	if env.Error != nil {
		if _, err := wireError(env.Error); err != nil {
			return env, false
		}
	}
	return env, true
}

// decodeEnvelope reads a message from a peer the fast path must understand
// whatever it writes (the upstream, or an agent's answer): as parseEnvelope
// when it can, and through the SDK's decoding otherwise.
func decodeEnvelope(data []byte) (envelope, error) {
	if !json.Valid(data) {
		return envelope{}, fmt.Errorf("malformed JSON-RPC message")
	}
	if env, ok := parseEnvelope(data); ok {
		return env, nil
	}
	msg, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		return envelope{}, err
	}
	var env envelope
	switch m := msg.(type) {
	case *jsonrpc.Request:
		env.ID, env.Method, env.Params = m.ID, m.Method, m.Params
		if m.Method == "" {
			return envelope{}, fmt.Errorf("JSON-RPC request without a method")
		}
	case *jsonrpc.Response:
		env.ID, env.Result = m.ID, m.Result
		if m.Error != nil {
			var we *jsonrpc.Error
			if !errors.As(m.Error, &we) {
				we = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: m.Error.Error()}
			}
			if env.Error, err = json.Marshal(we); err != nil {
				return envelope{}, err
			}
			env.Result = nil
		} else if env.Result == nil {
			env.Result = []byte("null")
		}
	}
	if env.ID.IsValid() {
		if env.RawID, err = json.Marshal(env.ID.Raw()); err != nil {
			return envelope{}, err
		}
	}
	return env, nil
}

// wireError reads a JSON-RPC error object exactly.
func wireError(raw []byte) (*jsonrpc.Error, error) {
	var buf [maxMembers]member
	ms, ok := objectMembers(buf[:0], raw)
	we := &jsonrpc.Error{}
	if ok {
		for _, m := range ms {
			var err error
			switch string(m.key) {
			case "code":
				err = json.Unmarshal(m.value, &we.Code)
			case "message":
				err = json.Unmarshal(m.value, &we.Message)
			case "data":
				we.Data = json.RawMessage(bytes.Clone(m.value))
			}
			if err != nil {
				ok = false
				break
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("malformed JSON-RPC error %.200s", raw)
	}
	return we, nil
}

// appendJSONString appends s to dst as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// arrayElements appends the elements of the JSON array data to dst. data
// must be valid JSON; ok is false if it is not an array.
func arrayElements(dst [][]byte, data []byte) ([][]byte, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return dst, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return dst, true
	}
	for {
		end := skipValue(data, i)
		if end < 0 {
			return dst, false
		}
		dst = append(dst, data[i:end])
		i = skipSpace(data, end)
		if i >= len(data) {
			return dst, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return dst, true
		default:
			return dst, false
		}
	}
}

// decodeToolResult decodes a tools/call result as the SDK decodes it. The
// common result, text content with isError, structuredContent and _meta,
// is read here; any other goes through the SDK's decoding, which costs a
// 32 KiB buffer.
func decodeToolResult(raw []byte) (*mcp.CallToolResult, error) {
	if res, ok := readToolResult(raw); ok {
		return res, nil
	}
	res := new(mcp.CallToolResult)
	if err := res.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return res, nil
}

func readToolResult(raw []byte) (*mcp.CallToolResult, bool) {
	var buf [maxMembers]member
	ms, ok := objectMembers(buf[:0], raw)
	if !ok {
		return nil, false
	}
	res := new(mcp.CallToolResult)
	var content []byte
	for _, m := range ms {
		switch string(m.key) {
		case "content":
			content = m.value
		case "isError":
			switch string(m.value) {
			case "true":
				res.IsError = true
			case "false":
			default:
				return nil, false
			}
		case "structuredContent":
			if json.Unmarshal(m.value, &res.StructuredContent) != nil {
				return nil, false
			}
		case "_meta":
			if string(m.value) != "null" && json.Unmarshal(m.value, &res.Meta) != nil {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	var items [][]byte
	if content != nil && string(content) != "null" {
		if items, ok = arrayElements(nil, content); !ok {
			return nil, false
		}
	}
	res.Content = make([]mcp.Content, 0, len(items))
	for _, item := range items {
		ms, ok := objectMembers(buf[:0], item)
		if !ok {
			return nil, false
		}
		tc := new(mcp.TextContent)
		typed := false
		for _, m := range ms {
			switch string(m.key) {
			case "type":
				typed = string(m.value) == `"text"`
			case "text":
				var ok bool
				if tc.Text, ok = plainString(m.value); !ok && json.Unmarshal(m.value, &tc.Text) != nil {
					return nil, false
				}
			default:
				return nil, false
			}
		}
		if !typed {
			return nil, false
		}
		res.Content = append(res.Content, tc)
	}
	return res, true
}
