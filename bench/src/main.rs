//! The baseline of `cargo xtask bench`: `GET /baseline/{user_id}` runs one indexed SELECT
//! (the profile row by primary key, as `GET /api/v1/profile` does) through the same pool the server uses and answers JSON. No
//! authentication, no rate limit, no middleware: what the framework and one database round
//! trip cost, for the real routes to be measured against.

use actix_web::{App, HttpResponse, HttpServer, web};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;
use diesel_async::pooled_connection::deadpool::Pool;
use jobby_postgres::schema::profiles;

type ProfileColumns = (
    String,
    Option<String>,
    Vec<String>,
    Option<String>,
    Vec<String>,
    Option<String>,
    Option<String>,
);

async fn baseline(
    pool: web::Data<Pool<diesel_async::AsyncPgConnection>>,
    id: web::Path<uuid::Uuid>,
) -> HttpResponse {
    let Ok(mut conn) = pool.get().await else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    // The same statement the server's GET /profile runs: the profile row by primary key,
    // through the diesel DSL (a cached prepared statement), answered as the same JSON.
    let row: Result<Option<ProfileColumns>, _> = profiles::table
        .filter(profiles::user_id.eq(id.into_inner()))
        .select((
            profiles::name,
            profiles::headline,
            profiles::skills,
            profiles::location,
            profiles::links,
            profiles::resume_text,
            profiles::company,
        ))
        .first(&mut conn)
        .await
        .optional();
    match row {
        Ok(Some((name, headline, skills, location, links, resume_text, company))) => {
            HttpResponse::Ok().json(serde_json::json!({
                "name": name, "headline": headline, "skills": skills, "location": location,
                "links": links, "resume_text": resume_text, "company": company,
            }))
        }
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(_) => HttpResponse::InternalServerError().finish(),
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
