package clickhouse

import "testing"

// TestReturnsRowsByTheFirstWord: statements that answer with rows are told from the others by
// their first word, past white space, parentheses and comments, in any case.
func TestReturnsRowsByTheFirstWord(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT 1": true, "  select 1": true, "(SELECT 1) UNION ALL (SELECT 2)": true,
		"WITH 1 AS x SELECT x": true, "SHOW TABLES": true, "DESCRIBE blocks": true, "desc blocks": true,
		"EXISTS TABLE blocks": true, "EXPLAIN SELECT 1": true,
		"-- a comment\nSELECT 1": true, "/* c */ SELECT 1": true, "/* c */\n-- d\n select 1": true,
		"CREATE VIEW v AS SELECT 1": false, "DROP TABLE v": false, "INSERT INTO t SELECT 1": false,
		"ALTER TABLE t DELETE WHERE 1": false, "OPTIMIZE TABLE t FINAL": false, "": false,
		"-- only a comment": false, "/* unterminated": false, "SELECTED": false,
	} {
		if got := ReturnsRows(sql); got != want {
			t.Errorf("ReturnsRows(%q) = %v, want %v", sql, got, want)
		}
	}
}
