package pgwire

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/errs"
)

// errUnknownSetting is SHOW or SET of a setting the server does not
// have (SQLSTATE 42704).
var errUnknownSetting = errors.New("unrecognized configuration parameter")

// reportedSettings are sent as ParameterStatus at startup and when SET
// changes them, under PostgreSQL's names.
func reportedSettings() []string {
	return []string{"server_version", "server_encoding", "client_encoding", "DateStyle", "TimeZone",
		"integer_datetimes", "standard_conforming_strings", "application_name", "IntervalStyle", "is_superuser", "session_authorization"}
}

// defaultSettings are a new session's settings, by their names (kept as
// PostgreSQL spells them; looked up without case).
func defaultSettings() map[string]string {
	return map[string]string{
		"server_version": serverVersion, "server_version_num": "150000", "server_encoding": "UTF8", "client_encoding": "UTF8",
		"DateStyle": "ISO, MDY", "TimeZone": "UTC", "integer_datetimes": "on", "standard_conforming_strings": "on",
		"application_name": "", "IntervalStyle": "postgres", "is_superuser": "off", "session_authorization": "kapot",
		"search_path": `"$user", public`, "extra_float_digits": "1", "max_identifier_length": "63",
		"transaction_isolation": "read committed", "default_transaction_isolation": "read committed",
		"transaction_read_only": "off", "default_transaction_read_only": "off", "statement_timeout": "0",
		"lc_messages": "C", "lc_monetary": "C", "lc_numeric": "C", "lc_time": "C", "lc_collate": "C", "lc_ctype": "C",
		"bytea_output": "hex", "max_index_keys": "32", "block_size": "8192",
	}
}

// settingName is the name a setting is kept under: PostgreSQL's spelling
// of a known one, else name in lower case.
func settingName(settings map[string]string, name string) (string, bool) {
	for k := range settings {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return strings.ToLower(name), false
}

// setValue is the value a SET's arguments give, as text.
func setValue(args []*pg.Node) (string, error) {
	var vals []string
	for _, a := range args {
		c := a.GetAConst()
		if c == nil {
			if tc := a.GetTypeCast(); tc != nil && tc.GetArg().GetAConst() != nil {
				c = tc.GetArg().GetAConst()
			} else {
				return "", fmt.Errorf("%w: SET to an expression", errNotSupported)
			}
		}
		switch {
		case c.GetSval() != nil:
			vals = append(vals, c.GetSval().GetSval())
		case c.GetIval() != nil:
			vals = append(vals, fmt.Sprint(c.GetIval().GetIval()))
		case c.GetFval() != nil:
			vals = append(vals, c.GetFval().GetFval())
		case c.GetBoolval() != nil:
			if c.GetBoolval().GetBoolval() {
				vals = append(vals, "on")
			} else {
				vals = append(vals, "off")
			}
		default:
			vals = append(vals, "")
		}
	}
	return strings.Join(vals, ", "), nil
}

// set runs SET name = value (or RESET): it answers the setting to report
// to the client ("" for none).
func (c *conn) set(st *pg.VariableSetStmt) (string, error) {
	switch st.GetKind() {
	case pg.VariableSetKind_VAR_SET_MULTI:
		return "", fmt.Errorf("%w: SET TRANSACTION is answered by setTransaction", errs.ErrInternal)
	case pg.VariableSetKind_VAR_RESET_ALL:
		return "", nil // RESET ALL: nothing kapot keeps
	}
	name := st.GetName()
	if strings.HasPrefix(strings.ToLower(name), "kapot.") {
		if st.GetKind() == pg.VariableSetKind_VAR_SET_VALUE {
			v, err := setValue(st.GetArgs())
			if err != nil {
				return "", err
			}
			c.props[strings.ToLower(name)] = v
		} else {
			delete(c.props, strings.ToLower(name))
		}
		return "", nil
	}
	key, _ := settingName(c.settings, name)
	value := defaultSettings()[key]
	if st.GetKind() == pg.VariableSetKind_VAR_SET_VALUE {
		v, err := setValue(st.GetArgs())
		if err != nil {
			return "", err
		}
		value = v
	}
	switch key {
	case "TimeZone":
		if u := strings.ToUpper(value); u != "UTC" && u != "GMT" && u != "Z" && u != "ETC/UTC" && u != "+00" && u != "0" && u != "" {
			return "", fmt.Errorf("%w: time zone %q (the session's time zone is UTC)", errNotSupported, value)
		}
		value = "UTC"
	case "client_encoding":
		if u := strings.ReplaceAll(strings.ToUpper(value), "-", ""); u != "UTF8" && u != "UNICODE" {
			return "", fmt.Errorf("%w: client_encoding %q (UTF8 only)", errNotSupported, value)
		}
		value = "UTF8"
	}
	c.settings[key] = value
	for _, r := range reportedSettings() {
		if r == key {
			return key, nil
		}
	}
	return "", nil
}

// show answers SHOW name (ALL: every setting).
func (c *conn) show(name string) (*answer, error) {
	if strings.EqualFold(name, "all") {
		var names []string
		for k := range c.settings {
			names = append(names, k)
		}
		sort.Strings(names)
		rows := make([][]string, len(names))
		for i, k := range names {
			rows[i] = []string{k, c.settings[k], ""}
		}
		return c.inline("SHOW", []string{"name", "setting", "description"}, rows)
	}
	if strings.HasPrefix(strings.ToLower(name), "kapot.") {
		return c.inline("SHOW", []string{strings.ToLower(name)}, [][]string{{c.props[strings.ToLower(name)]}})
	}
	key, known := settingName(c.settings, name)
	if !known {
		return nil, fmt.Errorf("%w %q", errUnknownSetting, name)
	}
	return c.inline("SHOW", []string{strings.ToLower(key)}, [][]string{{c.settings[key]}})
}
