//! Delivery reports: the gateway's callback `POST /api/sms/dlr?token=…`.
//!
//! Input: a LINK Mobility-style delivery report `{"id","refId","resultCode",
//! "description",…}`; `refId` is our idempotency key. Output: the recipient row
//! moves to `delivered` (resultCode 1001) or `failed` (any final code other than
//! the intermediate 1005 queued / 1007 accepted, which change nothing); a
//! `delivered` row is never moved back. Failure: an unknown `refId` is
//! [`DlrOutcome::Unknown`] (answered 200 so the gateway stops retrying, logged by
//! count only); a database error is returned (the gateway retries the callback).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryReport {
    #[serde(default)]
    pub id: Option<String>,
    pub ref_id: String,
    pub result_code: i64,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlrOutcome {
    Updated,
    Intermediate,
    Unknown,
}

pub const DELIVERED: i64 = 1001;

pub async fn apply(pool: &sqlx::PgPool, r: &DeliveryReport) -> Result<DlrOutcome, sqlx::Error> {
    let status = match r.result_code {
        DELIVERED => "delivered",
        1005 | 1007 => return Ok(DlrOutcome::Intermediate),
        _ => "failed",
    };
    let error = (status == "failed").then(|| {
        format!(
            "delivery report {}: {}",
            r.result_code,
            r.description.as_deref().unwrap_or("")
        )
    });
    let updated = sqlx::query(
        "UPDATE sms_recipients SET status = $2, updated_at = now(), claimed_until = NULL,
                gateway_message_id = COALESCE(gateway_message_id, $3), error = $4
          WHERE idempotency_key = $1 AND status <> 'delivered'",
    )
    .bind(&r.ref_id)
    .bind(status)
    .bind(&r.id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(if updated.rows_affected() == 1 {
        DlrOutcome::Updated
    } else {
        DlrOutcome::Unknown
    })
}
