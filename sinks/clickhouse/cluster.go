package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ReplicatedPath is the ZooKeeper path of a table in cluster mode, with the database and table
// names in place of the two %s: the {shard} macro is expanded by each server, so the replicas
// of a shard share the path, and the replica name is the {replica} macro.
const ReplicatedPath = "/clickhouse/tables/{shard}/%s/%s"

// replicatedEngines are the table engines cluster mode knows the Replicated variant of.
var replicatedEngines = map[string]bool{
	"MergeTree": true, "ReplacingMergeTree": true, "SummingMergeTree": true, "AggregatingMergeTree": true,
	"CollapsingMergeTree": true, "VersionedCollapsingMergeTree": true, "GraphiteMergeTree": true,
}

var (
	createTableHead = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+([A-Za-z_][A-Za-z0-9_]*)(\s*)\(`)
	createViewHead  = regexp.MustCompile(`(?is)^CREATE\s+VIEW\s+IF\s+NOT\s+EXISTS\s+([A-Za-z_][A-Za-z0-9_]*)(\s+AS\s)`)
	alterAddHead    = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+([A-Za-z_][A-Za-z0-9_]*)(\s+ADD\s+COLUMN\s)`)
	engineClause    = regexp.MustCompile(`(?is)^(\s*ENGINE\s*=\s*)([A-Za-z]+)(\s*\(([^()]*)\))?`)
	tableReference  = regexp.MustCompile(`(?i)\b(?:FROM|JOIN)\s+([A-Za-z_][A-Za-z0-9_]*)\b`)
	columnComment   = regexp.MustCompile(`(?i)\s+COMMENT\s+'`)
)

// errNotForCluster says which statements cluster mode runs.
var errNotForCluster = errors.New("cluster mode (--clickhouse.cluster) runs only CREATE TABLE IF NOT EXISTS with a MergeTree-family engine, " +
	"CREATE VIEW IF NOT EXISTS and ALTER TABLE ... ADD COLUMN: statements that only add, so that migrators running at once, " +
	"in any order, leave one schema (see the package doc)")

// clusterStatement rewrites a migration statement (unqualified names, a single node's engine)
// for cluster mode: the name qualified with database and followed by ON CLUSTER cluster, a
// table's engine replaced by its Replicated variant (ZooKeeper path ReplicatedPath, replica
// {replica}, then the engine's own arguments), and the tables a view reads (after FROM and
// JOIN) qualified, since ON CLUSTER statements run in each server's default database. Any
// other statement is refused (errNotForCluster). Without keepComments, the COMMENT clauses of
// columns are left out: ClickHouse 18 cannot create a Replicated table whose columns have
// comments (it writes them to ZooKeeper in a form it then reads back as a different structure).
func clusterStatement(stmt, database, cluster string, keepComments bool) (string, error) {
	stmt = strings.TrimSpace(stmt)
	if !keepComments && !createViewHead.MatchString(stmt) {
		stmt = withoutColumnComments(stmt)
	}
	code := sqlCode(stmt)
	onCluster := " ON CLUSTER " + cluster
	switch {
	case createTableHead.MatchString(stmt):
		m := createTableHead.FindStringSubmatchIndex(stmt)
		table := stmt[m[2]:m[3]]
		open := m[1] - 1
		end := closingParen(stmt, code, open)
		if end < 0 {
			return "", fmt.Errorf("%s: the column list does not end: %w", abbreviate(stmt), errNotForCluster)
		}
		tail := stmt[end+1:]
		e := engineClause.FindStringSubmatchIndex(tail)
		if e == nil {
			return "", fmt.Errorf("%s: no ENGINE = after the column list: %w", abbreviate(stmt), errNotForCluster)
		}
		engine := tail[e[4]:e[5]]
		if !replicatedEngines[engine] {
			return "", fmt.Errorf("%s: engine %s has no Replicated variant here: %w", abbreviate(stmt), engine, errNotForCluster)
		}
		args := fmt.Sprintf("'"+ReplicatedPath+"', '{replica}'", database, table)
		if e[8] >= 0 {
			if own := strings.TrimSpace(tail[e[8]:e[9]]); own != "" {
				args += ", " + own
			}
		}
		var b strings.Builder
		b.WriteString("CREATE TABLE IF NOT EXISTS " + database + "." + table + onCluster)
		b.WriteString(stmt[m[4]:m[5]]) // the blank before the column list
		b.WriteString(stmt[open : end+1])
		b.WriteString(tail[e[2]:e[3]] + "Replicated" + engine + "(" + args + ")")
		b.WriteString(tail[e[1]:])
		return b.String(), nil
	case createViewHead.MatchString(stmt):
		m := createViewHead.FindStringSubmatchIndex(stmt)
		body := qualifyTables(stmt[m[1]:], code[m[1]:], database)
		return "CREATE VIEW IF NOT EXISTS " + database + "." + stmt[m[2]:m[3]] + onCluster + stmt[m[4]:m[5]] + body, nil
	case alterAddHead.MatchString(stmt):
		m := alterAddHead.FindStringSubmatchIndex(stmt)
		return "ALTER TABLE " + database + "." + stmt[m[2]:m[3]] + onCluster + stmt[m[4]:], nil
	}
	return "", fmt.Errorf("%s: %w", abbreviate(stmt), errNotForCluster)
}

// qualifyTables prefixes database to every table name after FROM or JOIN in code (not in a
// string or a comment) that is not qualified already or a table function.
func qualifyTables(sql string, code []bool, database string) string {
	var b strings.Builder
	last := 0
	for _, m := range tableReference.FindAllStringSubmatchIndex(sql, -1) {
		if !code[m[0]] {
			continue
		}
		if next := strings.TrimLeft(sql[m[3]:], " \t\r\n"); strings.HasPrefix(next, ".") || strings.HasPrefix(next, "(") {
			continue
		}
		b.WriteString(sql[last:m[2]])
		b.WriteString(database + ".")
		last = m[2]
	}
	b.WriteString(sql[last:])
	return b.String()
}

// withoutColumnComments removes every COMMENT '...' clause (in code, not in a string) of sql.
func withoutColumnComments(sql string) string {
	code := sqlCode(sql)
	var b strings.Builder
	last := 0
	for _, m := range columnComment.FindAllStringIndex(sql, -1) {
		quote := m[1] - 1
		if m[0] < last || !code[quote-1] || code[quote] {
			continue // inside an earlier comment's string, or not the keyword
		}
		end := quote + 1
		for end < len(sql) && !code[end] {
			end++
		}
		b.WriteString(sql[last:m[0]])
		last = end
	}
	b.WriteString(sql[last:])
	return b.String()
}

// commentsInReplicatedTables reports whether a server of version (e.g. "18.16.1") creates
// Replicated tables whose columns have comments: 18.x does not.
func commentsInReplicatedTables(version string) bool {
	major, err := strconv.Atoi(strings.SplitN(version, ".", 2)[0])
	return err != nil || major >= 19
}

// sqlCode tells, for each byte of sql, whether it is SQL code: not inside a string literal, a
// quoted identifier or a -- comment.
func sqlCode(sql string) []bool {
	code := make([]bool, len(sql))
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < len(sql) {
				if sql[j] == '\\' {
					j += 2
					continue
				}
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c { // a doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			i = j + 1
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		default:
			code[i] = true
			i++
		}
	}
	return code
}

// closingParen returns the index of the parenthesis in code that closes the one at open, or -1.
func closingParen(sql string, code []bool, open int) int {
	depth := 0
	for i := open; i < len(sql); i++ {
		if !code[i] {
			continue
		}
		switch sql[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// checkCluster fails, naming what to fix, unless the server knows db's cluster and has the
// {shard} and {replica} macros that the Replicated tables' paths need.
func checkCluster(ctx context.Context, db *DB) error {
	res, err := db.Query(ctx, "SELECT count() FROM system.clusters WHERE cluster = "+QuoteString(db.cluster))
	if err != nil {
		return fmt.Errorf("look for cluster %s: %w", db.cluster, err)
	}
	if n, _ := res.Rows[0][0].(uint64); n == 0 {
		return fmt.Errorf("the ClickHouse server has no cluster %s in its remote_servers (--clickhouse.cluster / %s)", db.cluster, envName("clickhouse.cluster"))
	}
	res, err = db.Query(ctx, "SELECT macro FROM system.macros WHERE macro IN ('shard', 'replica') ORDER BY macro")
	if err != nil {
		return fmt.Errorf("read the server's macros: %w", err)
	}
	if len(res.Rows) != 2 {
		return fmt.Errorf("the ClickHouse server of cluster %s lacks the {shard} and {replica} macros (<macros> in its config) that the paths of Replicated tables use: it has %v", db.cluster, res.Rows)
	}
	return nil
}

// isDuplicateColumn reports whether err is the server refusing ADD COLUMN for a column that
// exists (ILLEGAL_COLUMN, 44): a concurrent migrator added it first.
func isDuplicateColumn(err error) bool {
	code, ok := ErrorCode(err)
	return ok && code == 44 && strings.Contains(err.Error(), "already exists")
}
