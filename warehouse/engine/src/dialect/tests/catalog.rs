//! The catalog and the session as Redshift shows them: `public`, Redshift's type names, the
//! statement's user and database.

use super::{SESSION, engine, run, translate, value};

#[test]
fn the_public_schema_holds_what_is_created_without_one() {
    let (_dir, conn) = engine();
    run(&conn, "create table public.sales (qty smallint, price decimal(8,2), buyer varchar(30), sold_at timestamp)");
    run(&conn, "insert into sales values (2, 10.50, 'ann', '2008-01-01 10:00')");
    assert_eq!(value(&conn, "select count(*) from public.sales"), "1");
    assert_eq!(value(&conn, "select count(*) from dev.public.sales"), "1");
    run(&conn, "create schema if not exists public");
    run(&conn, "set search_path to '$user', public");
    assert_eq!(value(&conn, "select current_schema()"), "public");
}

#[test]
fn information_schema_says_public_and_redshifts_type_names() {
    let (_dir, conn) = engine();
    run(
        &conn,
        "create table sales (qty smallint, price decimal(8,2), buyer varchar(30), sold_at timestamp, ok boolean)",
    );
    let types = "select listagg(column_name || ':' || data_type, ',') within group (order by ordinal_position) \
                 from information_schema.columns where table_schema = 'public' and table_name = 'sales'";
    assert_eq!(
        value(&conn, types),
        "qty:smallint,price:numeric,buyer:character varying,sold_at:timestamp without time zone,ok:boolean"
    );
    let tables = "select table_catalog || '.' || table_schema || '.' || tables.table_name \
                  from information_schema.tables where table_schema = 'public'";
    assert_eq!(value(&conn, tables), "tickit.public.sales");
    assert_eq!(value(&conn, "select count(*) from information_schema.schemata where schema_name = 'public'"), "1");
    // The engine's internal schema is not the user's.
    assert_eq!(value(&conn, "select count(*) from information_schema.tables where table_schema like 'spectra%'"), "0");
}

#[test]
fn pg_table_def_describes_columns() {
    let (_dir, conn) = engine();
    run(&conn, "create table sales (salesid integer not null, pricepaid decimal(8,2))");
    let def = "select listagg(\"column\" || ' ' || type || ' ' || notnull, ', ') within group (order by \"column\") \
               from pg_table_def where tablename = 'sales' and schemaname = 'public'";
    assert_eq!(value(&conn, def), "pricepaid numeric(8,2) false, salesid integer true");
}

#[test]
fn session_functions_name_the_statements_user_and_database() {
    let (_dir, conn) = engine();
    assert_eq!(value(&conn, "select current_user"), SESSION.user);
    assert_eq!(value(&conn, "select user"), SESSION.user);
    assert_eq!(value(&conn, "select current_database()"), SESSION.database);
    let defaults = translate("select current_user || current_database()", &super::Session::new(None, None));
    assert!(defaults.unwrap().unwrap().contains("'awsuser' || 'dev'"));
}
