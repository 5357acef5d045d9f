//! `GET /v1/bot-quality`: the visitor questions the bot could not handle in a range (it
//! answered unsure, the conversation was handed to a human, or nobody answered), grouped so
//! that near-identical questions count as one ([`crate::questions`]), busiest first.

use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::Scope;
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::routes::params::Params;
use crate::store::questions::{self as store, Question};
use crate::store::stats::Range;

/// Most groups one answer lists.
const MAX_GROUPS: usize = 200;
/// Most conversations a group names, and other wordings it shows.
const CONVERSATIONS_PER_GROUP: usize = 50;
const WORDINGS_PER_GROUP: usize = 5;

super::ranged_params! {
    /// Which websites and days, and how many groups.
    QualityParams {
        /// Most groups to list, busiest first (default 20).
        #[schemars(range(min = 1, max = MAX_GROUPS))]
        limit: Option<usize>,
    }
}

/// A conversation a question came from.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Asked {
    pub website_id: String,
    pub conversation_id: String,
}

/// Near-identical visitor questions, counted as one.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct QuestionGroup {
    /// The group's most common wording, as a visitor wrote it.
    pub example: String,
    /// Questions in the group.
    pub count: usize,
    /// Of those, the ones the bot answered with a confidence under the website's
    /// `low_confidence`.
    pub unsure: usize,
    /// The ones that led to a handoff (the visitor's message at or before it).
    pub handed_off: usize,
    /// The ones nobody answered (the visitor's last message, unanswered).
    pub unanswered: usize,
    /// Other wordings in the group, the most common first.
    pub wordings: Vec<String>,
    /// The conversations the questions come from, newest first (at most 50).
    pub conversations: Vec<Asked>,
}

/// `GET /v1/bot-quality`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BotQuality {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub time_zone: Option<String>,
    /// Visitor questions grouped: the newest of the range, at most `BOT_QUALITY_QUESTIONS`.
    pub questions: usize,
    /// Whether the range held more, of which the oldest were left out.
    pub capped: bool,
    pub groups: Vec<QuestionGroup>,
    pub as_of: AsOf,
}

/// The question groups of `range`, busiest first, at most `limit`; with the number of
/// questions grouped and whether `max_questions` left some out.
pub async fn groups(
    pool: &PgPool,
    range: &Range<'_>,
    limit: usize,
    max_questions: i64,
) -> Result<(Vec<QuestionGroup>, usize, bool), ApiError> {
    let mut questions = store::questions(pool, range, max_questions.saturating_add(1)).await?;
    let capped = questions.len() as i64 > max_questions;
    questions.truncate(usize::try_from(max_questions).unwrap_or(usize::MAX));
    let count = questions.len();
    // Grouping is CPU work (about 0.1 ms a question): off the request threads.
    let groups = match tokio::task::spawn_blocking(move || grouped(&questions, limit)).await {
        Ok(groups) => groups,
        // Nothing cancels it: only a panic ends it early, and it is the request's.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    Ok((groups, count, capped))
}

/// `questions` (newest first) in groups, busiest first, at most `limit`.
fn grouped(questions: &[Question], limit: usize) -> Vec<QuestionGroup> {
    let texts: Vec<&str> = questions.iter().map(|q| q.text.as_str()).collect();
    crate::questions::group(&texts)
        .into_iter()
        .take(limit)
        .map(|g| {
            let members: Vec<&Question> = g.members.iter().map(|&i| &questions[i]).collect();
            let mut wordings: Vec<(usize, &str)> = Vec::new();
            for m in &members {
                match wordings.iter_mut().find(|(_, w)| *w == m.text) {
                    Some((n, _)) => *n += 1,
                    None => wordings.push((1, &m.text)),
                }
            }
            wordings.sort_by_key(|w| std::cmp::Reverse(w.0));
            let mut conversations: Vec<Asked> = Vec::new();
            let mut newest: Vec<&&Question> = members.iter().collect();
            newest.sort_by_key(|q| std::cmp::Reverse(q.sent_at));
            for q in newest {
                let asked = Asked {
                    website_id: q.website_id.clone(),
                    conversation_id: q.conversation_id.clone(),
                };
                if conversations.len() < CONVERSATIONS_PER_GROUP && !conversations.contains(&asked)
                {
                    conversations.push(asked);
                }
            }
            QuestionGroup {
                example: wordings[0].1.to_owned(),
                count: members.len(),
                unsure: members.iter().filter(|q| q.unsure).count(),
                handed_off: members.iter().filter(|q| q.handed_off).count(),
                unanswered: members.iter().filter(|q| q.unanswered).count(),
                wordings: wordings
                    .iter()
                    .skip(1)
                    .take(WORDINGS_PER_GROUP)
                    .map(|(_, w)| (*w).to_owned())
                    .collect(),
                conversations,
            }
        })
        .collect()
}

pub async fn bot_quality(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<QualityParams>,
) -> Result<Json<BotQuality>, ApiError> {
    let limit = params.limit.unwrap_or(20);
    if !(1..=MAX_GROUPS).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit: 1 to {MAX_GROUPS}")));
    }
    let scope = Scope::resolve(&admin, &state.pool, &params).await?;
    let days = scope.days;
    let (groups, questions, capped) = groups(
        &state.pool,
        &scope.range(days),
        limit,
        state.bot_quality_questions,
    )
    .await?;
    Ok(Json(BotQuality {
        from: days.from,
        to: days.to,
        time_zone: scope.time_zone,
        questions,
        capped,
        groups,
        as_of,
    }))
}
