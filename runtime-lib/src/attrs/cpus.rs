//! The list format of `execCPUAffinity` and `memoryPolicy.nodes` ("0-3,7") as the
//! bitmask the kernel takes (an array of 64-bit words, bit N = CPU or node N).

/// Highest CPU number accepted (the kernel's largest NR_CPUS).
pub const MAX_CPU: u32 = 8191;
/// Highest NUMA node number accepted (the kernel's largest MAX_NUMNODES - 1).
pub const MAX_NODE: u32 = 1023;

/// Parses "0-3,7" into a bitmask of words. An empty string is an empty mask.
/// Ids above `max` are refused, as are reversed ranges and empty elements.
pub fn parse_list(s: &str, max: u32) -> Result<Vec<u64>, String> {
    let mut mask: Vec<u64> = Vec::new();
    if s.trim().is_empty() {
        return Ok(mask);
    }
    for part in s.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (number(a, s)?, number(b, s)?),
            None => {
                let n = number(part, s)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(format!("{s:?}: range {part:?} is reversed"));
        }
        if hi > max {
            return Err(format!("{s:?}: {hi} is above the largest id {max}"));
        }
        for id in lo..=hi {
            let word = (id / 64) as usize;
            if mask.len() <= word {
                mask.resize(word + 1, 0);
            }
            mask[word] |= 1u64 << (id % 64);
        }
    }
    Ok(mask)
}

fn number(t: &str, whole: &str) -> Result<u32, String> {
    let t = t.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{whole:?} is not a list like \"0-3,7\" ({t:?} is not a number)"
        ));
    }
    t.parse()
        .map_err(|_| format!("{whole:?}: {t:?} is out of range"))
}

/// True if no bit is set.
pub fn is_empty(mask: &[u64]) -> bool {
    mask.iter().all(|w| *w == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_singles() {
        assert_eq!(parse_list("0-3,7", MAX_CPU).unwrap(), vec![0b1000_1111]);
        assert_eq!(parse_list("64", MAX_CPU).unwrap(), vec![0, 1]);
        assert_eq!(parse_list(" 1 , 2 ", MAX_CPU).unwrap(), vec![0b110]);
        assert!(parse_list("", MAX_CPU).unwrap().is_empty());
    }

    #[test]
    fn bad_lists() {
        for bad in ["3-1", "a", "1,,2", "-1", "1-", "2000"] {
            assert!(parse_list(bad, MAX_NODE).is_err(), "{bad}");
        }
    }
}
