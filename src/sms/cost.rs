//! The cost of an emergency SMS and the per-school cost ledger.
//!
//! Input: the configured price list (NOK per SMS with a valid-from date), a number
//! of distinct numbers and the segment count. Output: the exact cost in øre
//! (integers only: recipients × segments × price), the ledger rows written when a
//! message is approved for sending, and the monthly report `dokflyt sms costs`.
//! Failure: a price list with no price in force on the day is
//! [`CostError::NoPrice`]; the message is then refused, never sent uncosted.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use sqlx::PgExecutor;

use crate::config::SmsPrice;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CostError {
    #[error("no SMS price is in force on {0}")]
    NoPrice(NaiveDate),
    #[error("the SMS price {0} NOK is not a whole number of øre")]
    BadPrice(f64),
    #[error("invalid month `{0}` (expected YYYY-MM)")]
    BadMonth(String),
}

/// A price in force: øre per SMS segment, from a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Price {
    pub ore: i64,
    pub valid_from: NaiveDate,
}

/// The price in force on `day`: the latest `valid_from` not after it.
pub fn price_on(prices: &[SmsPrice], day: NaiveDate) -> Result<Price, CostError> {
    let p = prices
        .iter()
        .filter(|p| p.valid_from <= day)
        .max_by_key(|p| p.valid_from)
        .ok_or(CostError::NoPrice(day))?;
    let ore = (p.nok_per_sms * 100.0).round();
    if (ore - p.nok_per_sms * 100.0).abs() > 1e-6 || ore < 0.0 {
        return Err(CostError::BadPrice(p.nok_per_sms));
    }
    Ok(Price {
        ore: ore as i64,
        valid_from: p.valid_from,
    })
}

/// Cost in øre of `numbers` SMS of `segments` parts each.
pub fn cost_ore(numbers: i64, segments: i64, price: Price) -> i64 {
    numbers * segments * price.ore
}

/// `12345` øre → `"123.45"`.
pub fn nok(ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", ore.abs() / 100, ore.abs() % 100)
}

/// What the school has booked today, the day as it is in Norway (from midnight
/// Europe/Oslo, not the database's UTC `current_date`).
pub async fn booked_today<'e, E: PgExecutor<'e>>(e: E, school_id: &str) -> sqlx::Result<i64> {
    let since = crate::calendar::oslo_midnight(crate::calendar::today_in_oslo());
    sqlx::query_scalar(
        "SELECT COALESCE(sum(cost_ore), 0)::bigint FROM sms_cost_ledger
          WHERE school_id = $1 AND booked_at >= $2",
    )
    .bind(school_id)
    .bind(since)
    .fetch_one(e)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LedgerRow {
    pub booked_at: chrono::DateTime<chrono::Utc>,
    pub message_id: uuid::Uuid,
    pub sms_count: i64,
    pub price_ore: i64,
    pub price_valid_from: NaiveDate,
    pub cost_ore: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MonthReport {
    pub school_id: String,
    pub month: String,
    pub messages: usize,
    pub sms_count: i64,
    pub cost_ore: i64,
    pub cost_nok: String,
    pub rows: Vec<LedgerRow>,
}

/// Parses `2026-11` into its first day and the first day of the next month.
pub fn month_bounds(month: &str) -> Result<(NaiveDate, NaiveDate), CostError> {
    let bad = || CostError::BadMonth(month.to_string());
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").map_err(|_| bad())?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .ok_or_else(bad)?;
    Ok((first, next))
}

pub async fn month_report(
    pool: &sqlx::PgPool,
    school_id: &str,
    month: &str,
) -> Result<MonthReport, super::SmsError> {
    let (first, next) = month_bounds(month)?;
    // A month is booked as it is in Norway: from midnight Oslo time on the 1st.
    let (from, to) = (
        crate::calendar::oslo_midnight(first),
        crate::calendar::oslo_midnight(next),
    );
    let rows: Vec<LedgerRow> = sqlx::query_as(
        "SELECT booked_at, message_id, sms_count, price_ore, price_valid_from, cost_ore
           FROM sms_cost_ledger
          WHERE school_id = $1 AND booked_at >= $2 AND booked_at < $3
          ORDER BY booked_at, id",
    )
    .bind(school_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let cost: i64 = rows.iter().map(|r| r.cost_ore).sum();
    Ok(MonthReport {
        school_id: school_id.to_string(),
        month: month.to_string(),
        messages: rows.len(),
        sms_count: rows.iter().map(|r| r.sms_count).sum(),
        cost_ore: cost,
        cost_nok: nok(cost),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_valid_from_and_exact_cost() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let prices = vec![
            SmsPrice {
                valid_from: d("2020-01-01"),
                nok_per_sms: 0.69,
            },
            SmsPrice {
                valid_from: d("2027-01-01"),
                nok_per_sms: 0.75,
            },
        ];
        let p = price_on(&prices, d("2026-11-23")).unwrap();
        assert_eq!(p.ore, 69);
        assert_eq!(price_on(&prices, d("2027-01-01")).unwrap().ore, 75);
        assert_eq!(
            price_on(&prices, d("2019-12-31")),
            Err(CostError::NoPrice(d("2019-12-31")))
        );
        assert_eq!(cost_ore(4000, 2, p), 552_000);
        assert_eq!(nok(552_000), "5520.00");
        assert_eq!(nok(69), "0.69");
        assert_eq!(
            month_bounds("2026-12").unwrap(),
            (d("2026-12-01"), d("2027-01-01"))
        );
        assert!(month_bounds("2026-13").is_err());
    }
}
