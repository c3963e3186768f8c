package k8s

import (
	"fmt"
	"strconv"
	"strings"
)

// This file reads the subset of YAML that the manifests in this directory use, so that the test
// needs no YAML module (gopkg.in/yaml.v3 is not a requirement of go.mod, and these files are
// simple): documents separated by "---"; block mappings and block sequences nested by
// indentation; one-line flow mappings and sequences ({a: b, c: [d, e]}); plain, single- and
// double-quoted scalars; folded (>) and literal (|) block scalars with the "-" or default
// chomping; "#" comments. Anchors, aliases, tags, complex keys, multi-line flow collections and
// multi-line plain scalars are refused with an error naming the line, never misread.
//
// A value is a string (every scalar, numbers included), a []any (sequence) or a map[string]any
// (mapping).

// yline is one line of a document: its number in the file (from 1), its indentation and its
// text after the indentation (comments are stripped later, outside block scalars).
type yline struct {
	num    int
	indent int
	text   string
}

// parseYAML parses every document of src.
func parseYAML(src string) ([]any, error) {
	var docs []any
	var cur []yline
	flush := func() error {
		p := &yparser{lines: cur}
		v, err := p.document()
		if err != nil {
			return err
		}
		if v != nil {
			docs = append(docs, v)
		}
		cur = nil
		return nil
	}
	for i, raw := range strings.Split(src, "\n") {
		raw = strings.TrimRight(raw, " \t\r")
		if raw == "---" || strings.HasPrefix(raw, "--- ") {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		text := strings.TrimLeft(raw, " ")
		if strings.HasPrefix(text, "\t") {
			return nil, fmt.Errorf("line %d: tab in indentation", i+1)
		}
		cur = append(cur, yline{num: i + 1, indent: len(raw) - len(text), text: text})
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return docs, nil
}

type yparser struct {
	lines []yline
	pos   int
}

// document parses one document; it returns nil for a document of only comments.
func (p *yparser) document() (any, error) {
	p.skipBlank()
	if p.pos == len(p.lines) {
		return nil, nil
	}
	v, err := p.block(p.lines[p.pos].indent)
	if err != nil {
		return nil, err
	}
	p.skipBlank()
	if p.pos < len(p.lines) {
		l := p.lines[p.pos]
		return nil, fmt.Errorf("line %d: unexpected %q at indentation %d", l.num, l.text, l.indent)
	}
	return v, nil
}

// content returns a line's text without its comment.
func content(text string) string {
	inSingle, inDouble := false, false
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '\\' && inDouble:
			i++
		case c == '"' && !inSingle:
			inDouble = !inDouble
		case c == '\'' && !inDouble:
			inSingle = !inSingle
		case c == '#' && !inSingle && !inDouble && (i == 0 || text[i-1] == ' '):
			return strings.TrimRight(text[:i], " ")
		}
	}
	return text
}

// skipBlank moves past empty and comment-only lines.
func (p *yparser) skipBlank() {
	for p.pos < len(p.lines) && content(p.lines[p.pos].text) == "" {
		p.pos++
	}
}

// block parses the mapping or sequence whose lines start at indentation ind.
func (p *yparser) block(ind int) (any, error) {
	p.skipBlank()
	l := p.lines[p.pos]
	if t := content(l.text); t == "-" || strings.HasPrefix(t, "- ") {
		return p.sequence(ind)
	}
	return p.mapping(ind)
}

func (p *yparser) sequence(ind int) (any, error) {
	var seq []any
	for {
		p.skipBlank()
		if p.pos == len(p.lines) {
			return seq, nil
		}
		l := &p.lines[p.pos]
		t := content(l.text)
		if l.indent < ind || !(t == "-" || strings.HasPrefix(t, "- ")) {
			if l.indent > ind {
				return nil, fmt.Errorf("line %d: bad indentation in a sequence", l.num)
			}
			return seq, nil
		}
		if l.indent > ind {
			return nil, fmt.Errorf("line %d: bad indentation in a sequence", l.num)
		}
		rest := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		if content(rest) == "" {
			p.pos++
			v, err := p.nested(ind)
			if err != nil {
				return nil, err
			}
			seq = append(seq, v)
			continue
		}
		// "- x": x starts a block at the column where it stands; rewrite the line in place so
		// that a mapping item's first key lines up with its other keys.
		l.indent += len(l.text) - len(rest)
		l.text = rest
		if r := content(rest); isMappingLine(r) {
			v, err := p.mapping(l.indent)
			if err != nil {
				return nil, err
			}
			seq = append(seq, v)
			continue
		}
		p.pos++
		var v any
		var err error
		if r := content(rest); r[0] == '>' || r[0] == '|' {
			v, err = p.blockScalar(l.num, r, ind)
		} else {
			v, err = p.inline(l.num, r, ind)
		}
		if err != nil {
			return nil, err
		}
		seq = append(seq, v)
	}
}

// isMappingLine reports whether t (without comment) is "key:" or "key: value", with key a plain
// or quoted scalar.
func isMappingLine(t string) bool {
	_, _, ok := splitKey(t)
	return ok
}

// splitKey splits "key: value" (or "key:") into the key and the value text.
func splitKey(t string) (key, rest string, ok bool) {
	if t == "" || t[0] == '{' || t[0] == '[' {
		return "", "", false
	}
	if t[0] == '"' || t[0] == '\'' {
		s, n, err := quoted(t)
		if err != nil || !strings.HasPrefix(t[n:], ":") {
			return "", "", false
		}
		after := t[n+1:]
		if after != "" && after[0] != ' ' {
			return "", "", false
		}
		return s, strings.TrimSpace(after), true
	}
	for i := 0; i < len(t); i++ {
		if t[i] == ':' && (i+1 == len(t) || t[i+1] == ' ') {
			return strings.TrimSpace(t[:i]), strings.TrimSpace(t[i+1:]), true
		}
	}
	return "", "", false
}

func (p *yparser) mapping(ind int) (any, error) {
	m := map[string]any{}
	for {
		p.skipBlank()
		if p.pos == len(p.lines) {
			return m, nil
		}
		l := p.lines[p.pos]
		if l.indent < ind {
			return m, nil
		}
		if l.indent > ind {
			return nil, fmt.Errorf("line %d: bad indentation in a mapping", l.num)
		}
		t := content(l.text)
		key, rest, ok := splitKey(t)
		if !ok {
			if t == "-" || strings.HasPrefix(t, "- ") {
				return m, nil // a sequence item of an outer sequence at this indentation
			}
			return nil, fmt.Errorf("line %d: want \"key: value\", got %q", l.num, t)
		}
		if key == "" || key == "?" || key == "<<" {
			return nil, fmt.Errorf("line %d: unsupported key %q", l.num, key)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", l.num, key)
		}
		p.pos++
		var v any
		var err error
		switch {
		case rest == "":
			v, err = p.nested(ind)
		case rest[0] == '>' || rest[0] == '|':
			v, err = p.blockScalar(l.num, rest, ind)
		default:
			v, err = p.inline(l.num, rest, ind)
		}
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
}

// nested parses the value of a "key:" or "-" line whose value starts on the next line: a block
// more indented than ind, or a sequence at ind itself (YAML allows "key:\n- item"). Nothing
// there is a null, returned as "".
func (p *yparser) nested(ind int) (any, error) {
	p.skipBlank()
	if p.pos == len(p.lines) {
		return "", nil
	}
	l := p.lines[p.pos]
	t := content(l.text)
	if l.indent > ind || (l.indent == ind && (t == "-" || strings.HasPrefix(t, "- "))) {
		return p.block(l.indent)
	}
	return "", nil
}

// blockScalar reads a folded (>) or literal (|) scalar whose header is h, its lines more
// indented than ind.
func (p *yparser) blockScalar(num int, h string, ind int) (any, error) {
	style, chomp := h[0], h[1:]
	if chomp != "" && chomp != "-" {
		return nil, fmt.Errorf("line %d: unsupported block scalar header %q", num, h)
	}
	var lines []yline
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.text != "" && l.indent <= ind {
			break
		}
		lines = append(lines, l)
		p.pos++
	}
	for len(lines) > 0 && lines[len(lines)-1].text == "" {
		lines = lines[:len(lines)-1] // trailing blank lines belong to no one; clipped below
	}
	if len(lines) == 0 {
		return "", nil
	}
	base := 0 // the first non-empty line's indentation; leading empty lines have none
	for _, l := range lines {
		if l.text != "" {
			base = l.indent
			break
		}
	}
	var b strings.Builder
	prevFoldable := false // the line before is a non-empty line at the base indentation
	for i, l := range lines {
		if l.text != "" && l.indent < base {
			return nil, fmt.Errorf("line %d: block scalar line less indented than its first", l.num)
		}
		text := ""
		if l.text != "" {
			text = strings.Repeat(" ", l.indent-base) + l.text
		}
		foldable := l.text != "" && l.indent == base
		if i > 0 {
			switch {
			case style == '|':
				b.WriteByte('\n')
			case prevFoldable && foldable:
				b.WriteByte(' ')
			case prevFoldable && l.text == "":
				// a folded line followed by empty lines: its break is dropped, and each
				// empty line's break gives a newline
			default:
				b.WriteByte('\n')
			}
		}
		b.WriteString(text)
		prevFoldable = foldable
	}
	if chomp == "" {
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// inline parses a value written on its key's line: a flow collection or a scalar. A plain
// scalar continued on the next lines is refused.
func (p *yparser) inline(num int, t string, ind int) (any, error) {
	if t[0] == '&' || t[0] == '*' || t[0] == '!' {
		return nil, fmt.Errorf("line %d: anchors, aliases and tags are not supported: %q", num, t)
	}
	if t[0] != '{' && t[0] != '[' && t[0] != '"' && t[0] != '\'' && p.pos < len(p.lines) {
		if l := p.lines[p.pos]; content(l.text) != "" && l.indent > ind {
			return nil, fmt.Errorf("line %d: multi-line plain scalars are not supported", l.num)
		}
	}
	f := &flow{s: t, num: num}
	v, err := f.valueIn(false)
	if err != nil {
		return nil, err
	}
	f.space()
	if f.i != len(f.s) {
		return nil, fmt.Errorf("line %d: unexpected %q after a value", num, f.s[f.i:])
	}
	return v, nil
}

// flow parses one line's flow value.
type flow struct {
	s   string
	i   int
	num int
}

func (f *flow) space() {
	for f.i < len(f.s) && f.s[f.i] == ' ' {
		f.i++
	}
}

func (f *flow) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", f.num, fmt.Sprintf(format, args...))
}

// valueIn parses a flow collection or scalar; inside a collection (inFlow) a plain scalar ends
// at ",", "]", "}" or ": ".
func (f *flow) valueIn(inFlow bool) (any, error) {
	f.space()
	if f.i == len(f.s) {
		return "", nil
	}
	switch f.s[f.i] {
	case '{':
		f.i++
		return f.mapping()
	case '[':
		f.i++
		return f.sequence()
	case '"', '\'':
		s, n, err := quoted(f.s[f.i:])
		if err != nil {
			return nil, f.errorf("%v", err)
		}
		f.i += n
		return s, nil
	case '&', '*', '!', '|', '>', '?', '@', '`':
		return nil, f.errorf("unsupported value starting with %q", f.s[f.i])
	}
	start := f.i
	for f.i < len(f.s) {
		c := f.s[f.i]
		if inFlow && (c == ',' || c == ']' || c == '}' || c == '[' || c == '{') {
			break
		}
		if c == ':' && (f.i+1 == len(f.s) || f.s[f.i+1] == ' ') {
			if !inFlow {
				return nil, f.errorf("unexpected \": \" in a plain scalar")
			}
			break
		}
		f.i++
	}
	return strings.TrimSpace(f.s[start:f.i]), nil
}

// mapping parses a flow mapping after its '{'.
func (f *flow) mapping() (any, error) {
	m := map[string]any{}
	for {
		f.space()
		if f.i < len(f.s) && f.s[f.i] == '}' {
			f.i++
			return m, nil
		}
		k, err := f.valueIn(true)
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok || key == "" {
			return nil, f.errorf("bad key in a flow mapping")
		}
		f.space()
		if f.i == len(f.s) || f.s[f.i] != ':' {
			return nil, f.errorf("want ':' after key %q", key)
		}
		f.i++
		v, err := f.valueIn(true)
		if err != nil {
			return nil, err
		}
		if _, dup := m[key]; dup {
			return nil, f.errorf("duplicate key %q", key)
		}
		m[key] = v
		if err := f.next('}'); err != nil {
			return nil, err
		}
	}
}

// sequence parses a flow sequence after its '['.
func (f *flow) sequence() (any, error) {
	var seq []any
	for {
		f.space()
		if f.i < len(f.s) && f.s[f.i] == ']' {
			f.i++
			return seq, nil
		}
		v, err := f.valueIn(true)
		if err != nil {
			return nil, err
		}
		seq = append(seq, v)
		if err := f.next(']'); err != nil {
			return nil, err
		}
	}
}

// next consumes the "," between items, or leaves the closing bracket for the caller's loop.
func (f *flow) next(closing byte) error {
	f.space()
	if f.i == len(f.s) {
		return f.errorf("unterminated flow collection (want %q)", closing)
	}
	switch f.s[f.i] {
	case ',':
		f.i++
		return nil
	case closing:
		return nil
	}
	return f.errorf("want ',' or %q, got %q", closing, f.s[f.i:])
}

// quoted reads the quoted scalar at the start of s and returns it and the bytes it took.
func quoted(s string) (string, int, error) {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			if q == '\'' {
				return strings.ReplaceAll(s[1:i], "''", "'"), i + 1, nil
			}
			v, err := strconv.Unquote(s[:i+1])
			if err != nil {
				return "", 0, fmt.Errorf("double-quoted scalar %s: %v", s[:i+1], err)
			}
			return v, i + 1, nil
		}
	}
	return "", 0, fmt.Errorf("unterminated quoted scalar %s", s)
}
