import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;

/**
 * What DBeaver's PostgreSQL connection asks pgjdbc's DatabaseMetaData on
 * connect and when a table is opened: schemas, tables, a table's columns
 * with their types, its primary key, the types; then a query read with a
 * fetch size (a portal suspended by max_rows) without autocommit.
 * Prints one line per fact for e2e/pgwire_bi_test.go.
 */
public class MetaData {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/kapot?user=kapot&sslmode=disable";
    try (Connection c = DriverManager.getConnection(url)) {
      DatabaseMetaData md = c.getMetaData();
      System.out.println("product " + md.getDatabaseProductName() + " " + md.getDatabaseProductVersion());
      try (ResultSet rs = md.getSchemas()) {
        StringBuilder sb = new StringBuilder("schemas");
        while (rs.next()) {
          sb.append(' ').append(rs.getString("TABLE_SCHEM"));
        }
        System.out.println(sb);
      }
      try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
        StringBuilder sb = new StringBuilder("tables");
        while (rs.next()) {
          sb.append(' ').append(rs.getString("TABLE_NAME")).append(':').append(rs.getString("TABLE_TYPE"));
        }
        System.out.println(sb);
      }
      try (ResultSet rs = md.getColumns(null, "public", "orders", null)) {
        while (rs.next()) {
          System.out.println("column " + rs.getInt("ORDINAL_POSITION") + " " + rs.getString("COLUMN_NAME") + " "
              + rs.getString("TYPE_NAME") + " " + rs.getInt("DATA_TYPE") + " " + rs.getInt("COLUMN_SIZE") + " "
              + rs.getInt("DECIMAL_DIGITS") + " " + rs.getString("IS_NULLABLE"));
        }
      }
      try (ResultSet rs = md.getPrimaryKeys(null, "public", "orders")) {
        int n = 0;
        while (rs.next()) {
          n++;
        }
        System.out.println("primary key columns " + n);
      }
      int keys = 0;
      for (ResultSet rs : new ResultSet[] {md.getImportedKeys(null, "public", "orders"), md.getExportedKeys(null, "public", "orders"),
          md.getIndexInfo(null, "public", "orders", false, true)}) {
        while (rs.next()) {
          keys++;
        }
        rs.close();
      }
      System.out.println("keys and indexes " + keys);
      try (ResultSet rs = md.getTypeInfo()) {
        int n = 0;
        while (rs.next()) {
          n++;
        }
        System.out.println("types " + (n > 10));
      }
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        st.setFetchSize(1000);
        try (ResultSet rs = st.executeQuery("SELECT o_orderkey FROM orders")) {
          long n = 0;
          while (rs.next()) {
            n++;
          }
          System.out.println("rows " + n);
        }
      }
      c.commit();
    }
  }
}
