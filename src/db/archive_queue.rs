//! Queries on `archive_queue`: the documents waiting for (or done with) the transfer
//! to the archive, by status `klar` / `arkivert` / `feilet`.

use sqlx::PgConnection;
use uuid::Uuid;

/// Queues a document for the archive in status `klar`.
pub async fn enqueue(
    conn: &mut PgConnection,
    event_id: Uuid,
    folder: &str,
    school_id: &str,
    document_type: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO archive_queue (event_id, status, folder, school_id, document_type)
         VALUES ($1, 'klar', $2, $3, $4)",
    )
    .bind(event_id)
    .bind(folder)
    .bind(school_id)
    .bind(document_type)
    .execute(conn)
    .await?;
    Ok(())
}
