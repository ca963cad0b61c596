//! "Did you mean": the nearest of a list of names to a misspelt one. Shared by the checker and
//! the runtime's schema shorthand, so both suggest the same correction.

/// The candidate closest to `needle` within a typo-sized distance (case-only differences win).
pub fn nearest<'c>(needle: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (needle.chars().count() / 3).max(1);
    let lower = needle.to_lowercase();
    let mut best: Option<(&'c str, usize)> = None;
    for candidate in candidates {
        if candidate == needle {
            return None;
        }
        let distance = if candidate.to_lowercase() == lower {
            0
        } else {
            typo_distance(needle, candidate)
        };
        if distance <= limit && best.is_none_or(|(_, d)| distance < d) {
            best = Some((candidate, distance));
        }
    }
    best.map(|(candidate, _)| candidate)
}

/// Edit distance where swapping two neighbouring letters costs one edit (`agnet` → `agent`),
/// since that is the most common typo and plain Levenshtein counts it as two.
fn typo_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * width + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * width + j] + 1)
                    .min(d[i * width + j - 1] + 1)
                    .min(d[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * width + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposition_is_one_edit() {
        assert_eq!(typo_distance("agnet", "agent"), 1);
        assert_eq!(typo_distance("paralel", "parallel"), 1);
        assert_eq!(typo_distance("abc", "xyz"), 3);
    }
}
