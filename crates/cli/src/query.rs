//! `trailwatch search`, `facets`, `histogram`, `get` and `stats`.

use std::path::Path;

use trailwatch_query::{KnownField, Query};
use trailwatch_store::{EventStore, FacetRequest, HistogramRequest, Order, SearchRequest, TimeRange};

use crate::args::{FacetsArgs, Format, HistogramArgs, SearchArgs, TimeArgs};
use crate::output;
use crate::{now_ms, open_store, parse_duration, Fail};

/// Parses a query, turning a syntax error into a message that points at the column.
pub fn parse_query(input: &str, now: i64) -> Result<Query, Fail> {
    trailwatch_query::parse(input, now).map_err(|e| {
        let pad: String = input
            .chars()
            .take(e.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Fail::usage(format!("bad query: {e}\n  {input}\n  {pad}^"))
    })
}

pub fn time_range(t: &TimeArgs, now: i64) -> Result<TimeRange, Fail> {
    let parse = |name: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| {
                trailwatch_query::parse_time(s, now)
                    .map_err(|e| Fail::usage(format!("bad --{name} {s:?}: {e}")))
            })
            .transpose()
    };
    let range = TimeRange { from: parse("from", &t.from)?, to: parse("to", &t.to)? };
    if let (Some(a), Some(b)) = (range.from, range.to) {
        if a >= b {
            return Err(Fail::usage("--from must be before --to"));
        }
    }
    Ok(range)
}

fn known_field(name: &str) -> Result<KnownField, Fail> {
    KnownField::from_name(name).ok_or_else(|| {
        let names: Vec<_> = trailwatch_store::facetable_fields().map(|f| f.name()).collect();
        Fail::usage(format!("unknown field {name:?}; fields that can be counted: {}", names.join(", ")))
    })
}

pub fn search(data_dir: &Path, args: SearchArgs) -> Result<u8, Fail> {
    let now = now_ms();
    let query = parse_query(&args.query, now)?;
    let range = time_range(&args.time, now)?;
    let store = open_store(data_dir)?;
    let req = SearchRequest {
        query,
        range,
        limit: args.limit.max(1),
        offset: args.offset,
        order: if args.oldest_first { Order::OldestFirst } else { Order::NewestFirst },
    };
    let res = store.search(&req)?;
    match args.format {
        Format::Table => {
            output::events_table(&res.events);
            eprintln!(
                "{} of {} matching events{}",
                res.events.len(),
                res.total,
                if res.total as usize > args.offset + res.events.len() {
                    " (more with --limit/--offset)"
                } else {
                    ""
                }
            );
        }
        Format::Json => output::json(&res),
        Format::Jsonl => res.events.iter().for_each(output::json_line),
    }
    Ok(if args.fail_empty && res.total == 0 { 1 } else { 0 })
}

pub fn facets(data_dir: &Path, args: FacetsArgs) -> Result<u8, Fail> {
    let now = now_ms();
    let field = known_field(&args.field)?;
    let query = parse_query(&args.query, now)?;
    let range = time_range(&args.time, now)?;
    let store = open_store(data_dir)?;
    let res = store.facets(&FacetRequest { query, range, field, size: args.size.max(1) })?;
    match args.format {
        Format::Table => output::facets_table(&res),
        Format::Json | Format::Jsonl => output::json(&res),
    }
    Ok(0)
}

pub fn histogram(data_dir: &Path, args: HistogramArgs) -> Result<u8, Fail> {
    let now = now_ms();
    let query = parse_query(&args.query, now)?;
    let mut range = time_range(&args.time, now)?;
    let by = args.by.as_deref().map(known_field).transpose()?;
    let store = open_store(data_dir)?;
    if range.from.is_none() || range.to.is_none() {
        // Default to the stored events' own span.
        let stats = store.stats()?;
        let (Some(oldest), Some(newest)) = (stats.oldest, stats.newest) else {
            eprintln!("no events stored");
            return Ok(0);
        };
        range.from = range.from.or(Some(oldest));
        range.to = range.to.or(Some(newest + 1));
    }
    let span = range.to.unwrap() - range.from.unwrap();
    let interval = match &args.interval {
        Some(s) => parse_duration(s)?,
        None => trailwatch_store::auto_interval(span),
    };
    let h = store.histogram(&HistogramRequest {
        query,
        range,
        interval_ms: interval,
        by: by.map(|f| (f, args.top.max(1))),
    })?;
    match args.format {
        Format::Table => output::histogram_table(&h),
        Format::Json | Format::Jsonl => output::json(&h),
    }
    Ok(0)
}

pub fn get(data_dir: &Path, id: &str) -> Result<u8, Fail> {
    let store = open_store(data_dir)?;
    match store.get(id)? {
        Some(e) => {
            output::json(&e);
            Ok(0)
        }
        None => Err(Fail { code: 1, message: format!("no event with id {id:?}") }),
    }
}

pub fn stats(data_dir: &Path) -> Result<u8, Fail> {
    let store = open_store(data_dir)?;
    let s = store.stats()?;
    output::stats(&s);
    Ok(0)
}
