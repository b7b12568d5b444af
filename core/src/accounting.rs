//! Accounting identities: a total and the terms it must split into. Every run's summary states
//! its identities (`source.frames = decoded + malformed + stale_dropped`, per sink `events =
//! written + filtered_out + withheld`) and whether they hold, so a count that goes missing
//! anywhere between the socket and a sink shows up as a broken identity instead of silence.
//!
//! Components add their own: a sink puts identities over its own counts (the Kafka sink:
//! `written = delivered + undelivered`) into [`crate::component::SinkReport::identities`], and
//! [`crate::pipeline::RunReport::identities`] checks them with the engine's.

use std::fmt;

/// One named count in an [`Identity`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Term {
    /// What is counted (`malformed`, `sinks.out.written`).
    pub name: String,
    /// The count.
    pub value: u64,
}

/// `total = term + term + …`: a count and the parts it must add up to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// What the total counts (`source.frames`).
    pub name: String,
    /// The total.
    pub total: u64,
    /// The parts.
    pub terms: Vec<Term>,
}

impl Identity {
    /// An identity over `total`, with no terms yet.
    pub fn new(name: impl Into<String>, total: u64) -> Self {
        Self {
            name: name.into(),
            total,
            terms: Vec::new(),
        }
    }

    /// Adds a term.
    #[must_use]
    pub fn term(mut self, name: impl Into<String>, value: u64) -> Self {
        self.terms.push(Term {
            name: name.into(),
            value,
        });
        self
    }

    /// The sum of the terms (wide, so that no overflow can make a broken identity hold).
    pub fn sum(&self) -> u128 {
        self.terms.iter().map(|t| u128::from(t.value)).sum()
    }

    /// Whether the terms add up to the total.
    pub fn holds(&self) -> bool {
        self.sum() == u128::from(self.total)
    }
}

/// `source.frames 2104 = decoded 2103 + malformed 1 + stale_dropped 0`, with `≠` and the
/// difference when it does not hold.
impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let holds = self.holds();
        write!(
            f,
            "{} {} {} ",
            self.name,
            self.total,
            if holds { "=" } else { "!=" }
        )?;
        if self.terms.is_empty() {
            f.write_str("0")?;
        }
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" + ")?;
            }
            write!(f, "{} {}", t.name, t.value)?;
        }
        if !holds {
            write!(f, " (sum {})", self.sum())?;
        }
        Ok(())
    }
}

/// The identities of a run as the summary states them: each one as text, and whether all hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Accounting {
    /// True when every identity holds.
    pub ok: bool,
    /// Every identity, as `total = terms` text.
    pub identities: Vec<String>,
}

impl Accounting {
    /// States `identities`.
    pub fn of(identities: &[Identity]) -> Self {
        Self {
            ok: identities.iter().all(Identity::holds),
            identities: identities.iter().map(Identity::to_string).collect(),
        }
    }
}

/// `Ok` when every identity holds, else every broken one, one per line.
pub fn check(identities: &[Identity]) -> Result<(), String> {
    let broken: Vec<String> = identities
        .iter()
        .filter(|i| !i.holds())
        .map(Identity::to_string)
        .collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(broken.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_holds_only_when_its_terms_add_up() {
        let ok = Identity::new("source.frames", 10)
            .term("decoded", 7)
            .term("malformed", 2)
            .term("stale_dropped", 1);
        assert!(ok.holds());
        assert_eq!(
            ok.to_string(),
            "source.frames 10 = decoded 7 + malformed 2 + stale_dropped 1"
        );
        let broken = Identity::new("source.frames", 10).term("decoded", 7);
        assert!(!broken.holds());
        assert_eq!(broken.to_string(), "source.frames 10 != decoded 7 (sum 7)");
        assert!(check(std::slice::from_ref(&ok)).is_ok());
        assert_eq!(
            check(&[ok, broken]).unwrap_err(),
            "source.frames 10 != decoded 7 (sum 7)"
        );
    }

    #[test]
    fn terms_cannot_overflow_into_a_holding_identity() {
        let i = Identity::new("x", 0).term("a", u64::MAX).term("b", 1);
        assert!(!i.holds());
    }
}
