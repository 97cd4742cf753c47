package pgwire

// pg_type, and the columns of the catalog relations kapot has nothing
// in (SELECT * and n.* over them name their columns).

// typeFacts are what pg_type says of a type kapot answers with.
type typeFacts struct {
	oid      uint32
	category string // typcategory
	in, out  string // typinput, typoutput
	align    string
}

// answeredTypes are the types of kapot's results, in pg_type.
var answeredTypes = []typeFacts{
	{oidBool, "B", "boolin", "boolout", "c"},
	{oidBytea, "U", "byteain", "byteaout", "i"},
	{oidInt8, "N", "int8in", "int8out", "d"},
	{oidInt2, "N", "int2in", "int2out", "s"},
	{oidInt4, "N", "int4in", "int4out", "i"},
	{oidText, "S", "textin", "textout", "i"},
	{oidFloat4, "N", "float4in", "float4out", "i"},
	{oidFloat8, "N", "float8in", "float8out", "d"},
	{oidVarchar, "S", "varcharin", "varcharout", "i"},
	{oidDate, "D", "date_in", "date_out", "i"},
	{oidTimestamp, "D", "timestamp_in", "timestamp_out", "d"},
	{oidTimestamptz, "D", "timestamptz_in", "timestamptz_out", "d"},
	{oidInterval, "T", "interval_in", "interval_out", "d"},
	{oidNumeric, "N", "numeric_in", "numeric_out", "i"},
	{oidName, "S", "namein", "nameout", "c"}, // the catalog's names (pgjdbc's getMaxNameLength reads its length)
}

// typeRelation is pg_type: the types kapot answers with (base types of
// pg_catalog; no arrays, domains, enums or composite types).
func typeRelation() *relation {
	r := &relation{cols: []string{"oid", "typname", "typnamespace", "typowner", "typlen", "typbyval", "typtype", "typcategory",
		"typispreferred", "typisdefined", "typdelim", "typrelid", "typelem", "typarray", "typinput", "typoutput", "typreceive",
		"typsend", "typalign", "typstorage", "typnotnull", "typbasetype", "typtypmod", "typndims", "typcollation", "typdefault", "typacl"}}
	for _, t := range answeredTypes {
		size := typeSize(t.oid)
		storage := "p"
		if size < 0 {
			storage = "x"
		}
		collation := int64(0)
		if t.category == "S" {
			collation = 100
		}
		r.rows = append(r.rows, []any{int64(t.oid), internalTypeName(t.oid), int64(oidCatalogNS), int64(10), int64(size), size > 0 && size <= 8,
			"b", t.category, false, true, ",", int64(0), int64(0), int64(0), t.in, t.out, nil,
			nil, t.align, storage, false, int64(0), int64(-1), int64(0), collation, nil, nil})
	}
	return r
}

// emptyColumns are the columns of the relations kapot has no rows in
// (emptyRelation), as PostgreSQL 15 has them; those not listed have none.
var emptyColumns = map[string][]string{
	"pg_index": {"indexrelid", "indrelid", "indnatts", "indnkeyatts", "indisunique", "indisprimary", "indisexclusion",
		"indimmediate", "indisclustered", "indisvalid", "indcheckxmin", "indisready", "indislive", "indisreplident", "indkey",
		"indcollation", "indclass", "indoption", "indexprs", "indpred"},
	"pg_constraint": {"oid", "conname", "connamespace", "contype", "condeferrable", "condeferred", "convalidated", "conrelid",
		"contypid", "conindid", "conparentid", "confrelid", "confupdtype", "confdeltype", "confmatchtype", "conislocal",
		"coninhcount", "connoinherit", "conkey", "confkey", "conpfeqop", "conppeqop", "conffeqop", "conexclop", "conbin"},
	"pg_description": {"objoid", "classoid", "objsubid", "description"},
	"pg_attrdef":     {"oid", "adrelid", "adnum", "adbin"},
	"pg_enum":        {"oid", "enumtypid", "enumsortorder", "enumlabel"},
	"pg_inherits":    {"inhrelid", "inhparent", "inhseqno", "inhdetachpending"},
	"pg_sequence":    {"seqrelid", "seqtypid", "seqstart", "seqincrement", "seqmax", "seqmin", "seqcache", "seqcycle"},
	"pg_trigger":     {"oid", "tgrelid", "tgparentid", "tgname", "tgfoid", "tgtype", "tgenabled", "tgisinternal", "tgconstrrelid"},
	"pg_proc": {"oid", "proname", "pronamespace", "proowner", "prolang", "procost", "prorows", "provariadic", "prosupport",
		"prokind", "prosecdef", "proleakproof", "proisstrict", "proretset", "provolatile", "proparallel", "pronargs",
		"pronargdefaults", "prorettype", "proargtypes", "proallargtypes", "proargmodes", "proargnames", "proargdefaults",
		"protrftypes", "prosrc", "probin", "prosqlbody", "proconfig", "proacl"},
	"pg_roles": {"rolname", "rolsuper", "rolinherit", "rolcreaterole", "rolcreatedb", "rolcanlogin", "rolreplication",
		"rolconnlimit", "rolpassword", "rolvaliduntil", "rolbypassrls", "rolconfig", "oid"},
	"pg_stat_user_tables": {"relid", "schemaname", "relname", "seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch",
		"n_tup_ins", "n_tup_upd", "n_tup_del", "n_tup_hot_upd", "n_live_tup", "n_dead_tup"},
	"pg_matviews":       {"schemaname", "matviewname", "matviewowner", "tablespace", "hasindexes", "ispopulated", "definition"},
	"pg_extension":      {"oid", "extname", "extowner", "extnamespace", "extrelocatable", "extversion", "extconfig", "extcondition"},
	"table_constraints": {"constraint_catalog", "constraint_schema", "constraint_name", "table_catalog", "table_schema", "table_name", "constraint_type", "is_deferrable", "initially_deferred", "enforced", "nulls_distinct"},
	"key_column_usage":  {"constraint_catalog", "constraint_schema", "constraint_name", "table_catalog", "table_schema", "table_name", "column_name", "ordinal_position", "position_in_unique_constraint"},
}
