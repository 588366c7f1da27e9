//! The baseline of `cargo xtask bench`: `GET /baseline/{user_id}` runs one indexed SELECT
//! (a profile by primary key) through the same pool the server uses and answers JSON. No
//! authentication, no rate limit, no middleware: what the framework and one database round
//! trip cost, for the real routes to be measured against.

use actix_web::{App, HttpResponse, HttpServer, web};
use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel::{QueryableByName, sql_query};
use diesel_async::RunQueryDsl;
use diesel_async::pooled_connection::deadpool::Pool;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    name: String,
}

async fn baseline(
    pool: web::Data<Pool<diesel_async::AsyncPgConnection>>,
    id: web::Path<uuid::Uuid>,
) -> HttpResponse {
    let Ok(mut conn) = pool.get().await else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let row: Result<Row, _> = sql_query("SELECT name FROM profiles WHERE user_id = $1")
        .bind::<SqlUuid, _>(id.into_inner())
        .get_result(&mut conn)
        .await;
    match row {
        Ok(r) => HttpResponse::Ok().json(serde_json::json!({ "name": r.name })),
        Err(_) => HttpResponse::NotFound().finish(),
    }
}

fn main() -> std::io::Result<()> {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let listen = std::env::var("BENCH_LISTEN").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let pool_size: usize = std::env::var("JOBBY_DB_POOL_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let workers: usize = std::env::var("JOBBY_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    actix_web::rt::System::new().block_on(async move {
        let db = jobby_postgres::connect(&url, pool_size)
            .await
            .map_err(std::io::Error::other)?;
        let pool = web::Data::new(db.pool().clone());
        println!("baseline listening on http://{listen}");
        HttpServer::new(move || {
            App::new()
                .app_data(pool.clone())
                .route("/baseline/{id}", web::get().to(baseline))
        })
        .workers(workers)
        .bind(&listen)?
        .run()
        .await
    })
}
