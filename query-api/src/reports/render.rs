//! A weekly report as an e-mail: subject, plain text and HTML, the same figures in each.

use std::fmt::Write;

use serde_json::Value;

use super::Report;
use crate::routes::stats::quality::QuestionGroup;

/// How a figure reads.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Count,
    Share,
    Millis,
    Decimal,
}

/// The figures a report shows, by their `GET /v1/stats` names, in order.
const FIGURES: [(&str, &str, Unit); 18] = [
    ("widget_loads", "Widget loads", Unit::Count),
    (
        "engaged_conversations",
        "Engaged conversations",
        Unit::Count,
    ),
    ("interaction_rate", "Interaction rate", Unit::Share),
    ("messages", "Messages", Unit::Count),
    ("unique_visitors", "Unique visitors", Unit::Count),
    ("cta_clicks", "CTA clicks", Unit::Count),
    ("contact_requests", "Contact requests", Unit::Count),
    ("conversion_rate", "Conversion rate", Unit::Share),
    ("avg_bot_response_ms", "Bot response time", Unit::Millis),
    ("escalated_conversations", "Handed to a human", Unit::Count),
    ("escalation_rate", "Handoff rate", Unit::Share),
    ("containment_rate", "Containment rate", Unit::Share),
    (
        "median_bot_first_response_ms",
        "Bot first response (median)",
        Unit::Millis,
    ),
    (
        "median_agent_first_response_ms",
        "Agent first response (median)",
        Unit::Millis,
    ),
    (
        "median_handoff_response_ms",
        "Human reply after handoff (median)",
        Unit::Millis,
    ),
    ("ratings", "Ratings", Unit::Count),
    ("avg_rating", "Average rating", Unit::Decimal),
    ("csat", "CSAT (rated 4-5)", Unit::Share),
];

fn figure(value: &Value, unit: Unit) -> String {
    let Some(v) = value.as_f64() else {
        return "-".to_owned();
    };
    match unit {
        Unit::Count => format!("{v:.0}"),
        Unit::Share => format!("{:.1}%", v * 100.0),
        Unit::Millis => format!("{v:.0} ms"),
        Unit::Decimal => format!("{v:.2}"),
    }
}

/// The change from the week before: `+12.5%`, `new` when there was none before, `-` when
/// there is nothing to compare. ASCII, so that the plain text travels unencoded.
fn change(delta: &Value, now: &Value, before: &Value) -> String {
    match delta.as_f64() {
        Some(c) => format!("{:+.1}%", c * 100.0),
        None if before.as_f64() == Some(0.0) && now.as_f64().is_some_and(|v| v > 0.0) => {
            "new".to_owned()
        }
        None => "-".to_owned(),
    }
}

/// One row per figure: label, this week, the week before, the change.
fn rows(report: &Report) -> Vec<[String; 4]> {
    FIGURES
        .iter()
        .map(|&(key, label, unit)| {
            let (now, before) = (&report.current[key], &report.previous[key]);
            [
                label.to_owned(),
                figure(now, unit),
                figure(before, unit),
                change(&report.change[key], now, before),
            ]
        })
        .collect()
}

fn title(report: &Report) -> String {
    match &report.name {
        Some(name) => format!("{name} ({})", report.website_id),
        None => report.website_id.clone(),
    }
}

pub fn subject(report: &Report) -> String {
    format!(
        "Weekly report for {}: {} to {}",
        title(report),
        report.week.from,
        report.week.to
    )
}

/// What a page's funnel says, in words.
fn page_line(p: &crate::store::stats::PageRow) -> String {
    let c = &p.counts;
    format!(
        "widget loads {}, engaged {}, with a CTA click {}, with contact details {}",
        c.loaded_conversations,
        c.engaged_conversations,
        c.cta_conversations,
        c.contact_conversations
    )
}

fn requester(r: &crate::store::requests::RequestRow) -> String {
    let name = r.name.as_deref().unwrap_or("(no name)");
    match r.email.as_deref().or(r.phone.as_deref()) {
        Some(reach) => format!("{name} <{reach}>"),
        None => name.to_owned(),
    }
}

fn when(r: &crate::store::requests::RequestRow) -> String {
    r.created_at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let previous = report.week.previous();
    let _ = writeln!(out, "Weekly report for {}", title(report));
    let _ = writeln!(
        out,
        "{} to {} (days in UTC), against {} to {}\n",
        report.week.from, report.week.to, previous.from, previous.to
    );
    let _ = writeln!(
        out,
        "{:<20} {:>12} {:>12} {:>9}",
        "", "this week", "week before", "change"
    );
    for [label, now, before, delta] in rows(report) {
        let _ = writeln!(out, "{label:<20} {now:>12} {before:>12} {delta:>9}");
    }
    let _ = writeln!(out, "\nTop pages");
    if report.top_pages.is_empty() {
        let _ = writeln!(out, "  (no widget loads this week)");
    }
    for p in &report.top_pages {
        let _ = writeln!(out, "  {}\n    {}", p.page_url, page_line(p));
    }
    let _ = writeln!(
        out,
        "\nOpen contact requests: {} pending, {} contacted",
        report.pending, report.contacted
    );
    for r in &report.open_requests {
        let _ = writeln!(out, "  {}  {}", when(r), requester(r));
        if let Some(message) = r.message.as_deref().filter(|m| !m.is_empty()) {
            let _ = writeln!(out, "    {}", one_line(message, 160));
        }
    }
    if report.pending > report.open_requests.len() as i64 {
        let _ = writeln!(
            out,
            "  ... and {} more",
            report.pending - report.open_requests.len() as i64
        );
    }
    let _ = writeln!(out, "\nQuestions the bot could not handle");
    if report.questions.is_empty() {
        let _ = writeln!(out, "  (none this week)");
    }
    for g in &report.questions {
        let _ = writeln!(
            out,
            "  {}\n    {}",
            one_line(&g.example, 160),
            question_line(g)
        );
    }
    out
}

/// How often a group of questions was asked, and what became of them.
fn question_line(g: &QuestionGroup) -> String {
    format!(
        "asked {} times: {} answered unsure, {} handed to a human, {} unanswered",
        g.count, g.unsure, g.handed_off, g.unanswered
    )
}

/// `text` on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        format!("{}...", line.chars().take(max).collect::<String>())
    }
}

/// `text` safe inside HTML elements and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn html(report: &Report) -> String {
    const CELL: &str = "padding:4px 10px;border-bottom:1px solid #e4e7ec;text-align:right";
    const LABEL: &str = "padding:4px 10px;border-bottom:1px solid #e4e7ec;text-align:left";
    let mut out = String::new();
    let previous = report.week.previous();
    let _ = write!(
        out,
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#1d2330\">\
         <h1 style=\"font-size:20px\">Weekly report for {}</h1>\
         <p>{} to {} (days in UTC), against {} to {}</p>\
         <table style=\"border-collapse:collapse\"><tr><th></th>\
         <th style=\"{CELL}\">This week</th><th style=\"{CELL}\">Week before</th>\
         <th style=\"{CELL}\">Change</th></tr>",
        escape(&title(report)),
        report.week.from,
        report.week.to,
        previous.from,
        previous.to
    );
    for [label, now, before, delta] in rows(report) {
        let _ = write!(
            out,
            "<tr><td style=\"{LABEL}\">{}</td><td style=\"{CELL}\"><b>{}</b></td>\
             <td style=\"{CELL}\">{}</td><td style=\"{CELL}\">{}</td></tr>",
            escape(&label),
            escape(&now),
            escape(&before),
            escape(&delta)
        );
    }
    let _ = write!(
        out,
        "</table><h2 style=\"font-size:16px\">Top pages</h2><ol>"
    );
    if report.top_pages.is_empty() {
        let _ = write!(out, "<li>No widget loads this week</li>");
    }
    for p in &report.top_pages {
        let _ = write!(
            out,
            "<li>{}<br><small>{}</small></li>",
            escape(&p.page_url),
            escape(&page_line(p))
        );
    }
    let _ = write!(
        out,
        "</ol><h2 style=\"font-size:16px\">Open contact requests: {} pending, {} contacted</h2><ul>",
        report.pending, report.contacted
    );
    for r in &report.open_requests {
        let _ = write!(
            out,
            "<li>{} &middot; {}",
            escape(&when(r)),
            escape(&requester(r))
        );
        if let Some(message) = r.message.as_deref().filter(|m| !m.is_empty()) {
            let _ = write!(
                out,
                "<br><small>{}</small>",
                escape(&one_line(message, 160))
            );
        }
        let _ = write!(out, "</li>");
    }
    let _ = write!(
        out,
        "</ul><h2 style=\"font-size:16px\">Questions the bot could not handle</h2><ol>"
    );
    if report.questions.is_empty() {
        let _ = write!(out, "<li>None this week</li>");
    }
    for g in &report.questions {
        let _ = write!(
            out,
            "<li>{}<br><small>{}</small></li>",
            escape(&one_line(&g.example, 160)),
            escape(&question_line(g))
        );
    }
    let _ = write!(out, "</ol></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::params::Days;
    use serde_json::json;

    fn report() -> Report {
        Report {
            website_id: "shop".into(),
            name: Some("<Shop & Co>".into()),
            week: Days {
                from: "2026-11-16".parse().unwrap(),
                to: "2026-11-22".parse().unwrap(),
            },
            current: json!({"widget_loads": 120, "interaction_rate": 0.25, "avg_bot_response_ms": 812.4, "engaged_conversations": 30}),
            previous: json!({"widget_loads": 100, "interaction_rate": 0.2, "avg_bot_response_ms": null, "engaged_conversations": 0}),
            change: json!({"widget_loads": 0.2, "interaction_rate": 0.25, "engaged_conversations": null}),
            top_pages: vec![],
            open_requests: vec![],
            pending: 0,
            contacted: 0,
            questions: vec![],
        }
    }

    #[test]
    fn the_text_shows_each_figure_with_the_week_before_and_the_change() {
        let text = text(&report());
        assert!(
            text.contains(
                "2026-11-16 to 2026-11-22 (days in UTC), against 2026-11-09 to 2026-11-15"
            )
        );
        let line = |label: &str| {
            text.lines()
                .find(|l| l.starts_with(label))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        assert_eq!(
            line("Widget loads").as_deref(),
            Some("Widget loads 120 100 +20.0%")
        );
        assert_eq!(
            line("Interaction rate").as_deref(),
            Some("Interaction rate 25.0% 20.0% +25.0%")
        );
        assert_eq!(
            line("Bot response time").as_deref(),
            Some("Bot response time 812 ms - -")
        );
        assert_eq!(
            line("Engaged conversations").as_deref(),
            Some("Engaged conversations 30 0 new")
        );
    }

    #[test]
    fn the_html_escapes_what_came_from_visitors_and_admins() {
        let mut r = report();
        r.top_pages.push(crate::store::stats::PageRow {
            page_url: "https://shop.example/?q=<script>".into(),
            counts: Default::default(),
        });
        let html = html(&r);
        assert!(html.contains("&lt;Shop &amp; Co&gt;"));
        assert!(html.contains("?q=&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }
}
