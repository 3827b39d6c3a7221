package sessionplus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The configuration file's JSON and YAML both become a tree of nodes that
// remember their lines, and then the plain values encoding/json gives
// (map[string]any, []any, string, int or float64, bool, nil).

type nodeKind uint8

const (
	scalarNode nodeKind = iota
	mapNode
	seqNode
)

type node struct {
	kind  nodeKind
	line  int
	value any // a scalar: string, int, float64, bool or nil

	keys    []string // a mapping's keys, in file order
	kv      map[string]*node
	keyLine map[string]int

	items []*node // a sequence's items
}

// scalar returns the value of a scalar node, and nil for anything else.
func (n *node) scalar() any {
	if n == nil || n.kind != scalarNode {
		return nil
	}
	return n.value
}

// plain returns the value n holds as encoding/json would decode it into an
// any, except that whole numbers are ints.
func (n *node) plain() any {
	switch n.kind {
	case mapNode:
		m := make(map[string]any, len(n.keys))
		for _, k := range n.keys {
			m[k] = n.kv[k].plain()
		}
		return m
	case seqNode:
		l := make([]any, len(n.items))
		for i, it := range n.items {
			l[i] = it.plain()
		}
		return l
	}
	return n.value
}

// describe names what n is, for errors.
func (n *node) describe() string {
	switch n.kind {
	case mapNode:
		return "an object"
	case seqNode:
		return "a list"
	}
	return describeValue(n.value)
}

func newMapNode(line int) *node {
	return &node{kind: mapNode, line: line, kv: map[string]*node{}, keyLine: map[string]int{}}
}

// add adds key k to mapping n; a key given twice is an error.
func (n *node) add(k string, line int, v *node) error {
	if prev, dup := n.keyLine[k]; dup {
		return &posError{pos: strconv.Itoa(line), msg: fmt.Sprintf("key %q is already defined at line %d", k, prev)}
	}
	n.keys = append(n.keys, k)
	n.kv[k] = v
	n.keyLine[k] = line
	return nil
}

// posError is an error at a position in the file: "line" or "line:column".
type posError struct {
	pos string
	msg string
}

func (e *posError) Error() string { return e.pos + ": " + e.msg }

// parseJSON parses one JSON value, keeping the line of every key.
func parseJSON(data []byte) (*node, error) {
	p := &jsonParser{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	p.dec.UseNumber()
	n, err := p.value()
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, &posError{pos: strconv.Itoa(p.line(p.dec.InputOffset())), msg: "unexpected data after the top-level object"}
	}
	return n, nil
}

type jsonParser struct {
	dec  *json.Decoder
	data []byte
}

// line returns the line of byte offset off.
func (p *jsonParser) line(off int64) int {
	off = min(max(off, 0), int64(len(p.data)))
	return bytes.Count(p.data[:off], []byte("\n")) + 1
}

// err turns a decoder error into an error at its line and column.
func (p *jsonParser) err(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off := min(max(se.Offset, 1), int64(len(p.data)))
		col := off - int64(bytes.LastIndexByte(p.data[:off], '\n')) - 1
		return &posError{pos: fmt.Sprintf("%d:%d", p.line(off), max(col, 1)), msg: "JSON syntax error: " + se.Error()}
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &posError{pos: strconv.Itoa(p.line(int64(len(p.data)))), msg: "JSON syntax error: unexpected end of file"}
	}
	return err
}

func (p *jsonParser) value() (*node, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.err(err)
	}
	line := p.line(p.dec.InputOffset())
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			n := &node{kind: seqNode, line: line}
			for p.dec.More() {
				it, err := p.value()
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, it)
			}
			if _, err := p.dec.Token(); err != nil { // ]
				return nil, p.err(err)
			}
			return n, nil
		}
		n := newMapNode(line) // '{': Token returns only valid delimiters
		for p.dec.More() {
			kt, err := p.dec.Token()
			if err != nil {
				return nil, p.err(err)
			}
			k, _ := kt.(string)
			kline := p.line(p.dec.InputOffset())
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			if err := n.add(k, kline, v); err != nil {
				return nil, err
			}
		}
		if _, err := p.dec.Token(); err != nil { // }
			return nil, p.err(err)
		}
		return n, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 0); err == nil {
			return &node{line: line, value: int(i)}, nil
		}
		f, err := t.Float64()
		if err != nil {
			return nil, &posError{pos: strconv.Itoa(line), msg: fmt.Sprintf("number %s is out of range", t)}
		}
		return &node{line: line, value: f}, nil
	default: // string, bool, nil
		return &node{line: line, value: t}, nil
	}
}

// maxYAMLNodes bounds the nodes that a YAML file's aliases can expand to.
const maxYAMLNodes = 100000

// parseYAML parses one YAML document, keeping the line of every key.
func parseYAML(data []byte) (*node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, errors.New("the file is empty")
		}
		return nil, yamlError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, &posError{pos: strconv.Itoa(next.Line), msg: "a second YAML document: the file must hold one"}
	}
	c := &yamlConverter{}
	return c.convert(&doc, 0)
}

// yamlError turns "yaml: line 3: msg" into an error at line 3.
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, m, ok := strings.Cut(rest, ": "); ok {
			if _, err := strconv.Atoi(num); err == nil {
				return &posError{pos: num, msg: "YAML syntax error: " + m}
			}
		}
	}
	return errors.New("YAML syntax error: " + msg)
}

type yamlConverter struct {
	nodes int
}

func (c *yamlConverter) convert(y *yaml.Node, depth int) (*node, error) {
	c.nodes++
	if c.nodes > maxYAMLNodes || depth > 100 {
		return nil, &posError{pos: strconv.Itoa(y.Line), msg: "the document is too large or too deep once its aliases are expanded"}
	}
	at := strconv.Itoa(y.Line)
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return nil, errors.New("the file is empty")
		}
		return c.convert(y.Content[0], depth+1)
	case yaml.AliasNode:
		n, err := c.convert(y.Alias, depth+1)
		if err != nil {
			return nil, err
		}
		cp := *n
		cp.line = y.Line
		return &cp, nil
	case yaml.SequenceNode:
		n := &node{kind: seqNode, line: y.Line}
		for _, it := range y.Content {
			v, err := c.convert(it, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		return n, nil
	case yaml.MappingNode:
		n := newMapNode(y.Line)
		var merges []*yaml.Node
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				merges = append(merges, v)
				continue
			}
			keyLine := k.Line
			if k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, &posError{pos: strconv.Itoa(k.Line), msg: fmt.Sprintf("a key must be a string, got %s", yamlDescribe(k))}
			}
			// A key is its text, as in JSON: null, true and 1 are the keys
			// "null", "true" and "1".
			val, err := c.convert(v, depth+1)
			if err != nil {
				return nil, err
			}
			if err := n.add(k.Value, keyLine, val); err != nil {
				return nil, err
			}
		}
		// Merge keys (<<: *defaults): keys given in the mapping win, then
		// the earlier of the merged mappings.
		for _, m := range merges {
			srcs := []*yaml.Node{m}
			if m.Kind == yaml.SequenceNode {
				srcs = m.Content
			}
			for _, src := range srcs {
				mv, err := c.convert(src, depth+1)
				if err != nil {
					return nil, err
				}
				if mv.kind != mapNode {
					return nil, &posError{pos: strconv.Itoa(src.Line), msg: "a merge key (<<) takes a mapping or a list of mappings"}
				}
				for _, k := range mv.keys {
					if _, ok := n.kv[k]; !ok {
						n.keys = append(n.keys, k)
						n.kv[k] = mv.kv[k]
						n.keyLine[k] = mv.keyLine[k]
					}
				}
			}
		}
		return n, nil
	case yaml.ScalarNode:
		n := &node{line: y.Line}
		var err error
		switch tag := y.ShortTag(); tag {
		case "!!str", "!!timestamp":
			n.value = y.Value
		case "!!null":
			n.value = nil
		case "!!bool":
			var b bool
			err = y.Decode(&b)
			n.value = b
		case "!!int":
			var i int64
			if err = y.Decode(&i); err == nil && (i > math.MaxInt || i < math.MinInt) {
				err = errors.New("out of range")
			}
			n.value = int(i)
		case "!!float":
			var f float64
			err = y.Decode(&f)
			n.value = f
		case "!!binary":
			var s string
			err = y.Decode(&s)
			n.value = s
		default:
			return nil, &posError{pos: at, msg: fmt.Sprintf("unsupported YAML tag %s", tag)}
		}
		if err != nil {
			return nil, &posError{pos: at, msg: fmt.Sprintf("value %q: %v", y.Value, strings.TrimPrefix(err.Error(), "yaml: "))}
		}
		return n, nil
	}
	return nil, &posError{pos: at, msg: "unexpected YAML node"}
}

func yamlDescribe(y *yaml.Node) string {
	switch y.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%s %q", strings.TrimPrefix(y.ShortTag(), "!!"), y.Value)
}
