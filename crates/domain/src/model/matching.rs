//! Who is matched with whom: the longest-waiting seekers with the longest-idle free
//! interviewers, one seat each, never a pair the interviewer declined in this event.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::ids::UserId;

/// A seeker waiting in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub seeker: UserId,
    pub joined_at: DateTime<Utc>,
}

/// A free interviewer: available, holding no live match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeSeat {
    pub interviewer: UserId,
    pub idle_since: DateTime<Utc>,
}

/// A pairing to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    pub seeker: UserId,
    pub interviewer: UserId,
}

/// How many waiting seekers a plan can need to see: every free seat can go to one seeker,
/// and each seeker the plan skips has been declined by some interviewer.
pub fn seekers_needed(free_seats: usize, declined_pairs: usize) -> usize {
    if free_seats == 0 {
        0
    } else {
        free_seats + declined_pairs
    }
}

/// The pairs to make now. Seekers are served first come, first served (ties by id); each
/// takes the longest-idle free interviewer it may meet. A seeker every remaining interviewer
/// declined is skipped and keeps their place.
pub fn plan(
    waiting: &[Waiting],
    seats: &[FreeSeat],
    declined: &HashSet<(UserId, UserId)>,
) -> Vec<Pair> {
    let mut seekers: Vec<Waiting> = waiting.to_vec();
    seekers.sort_by_key(|w| (w.joined_at, w.seeker));
    seekers.dedup_by_key(|w| w.seeker);
    let mut free: Vec<FreeSeat> = seats.to_vec();
    free.sort_by_key(|s| (s.idle_since, s.interviewer));
    free.dedup_by_key(|s| s.interviewer);
    let mut pairs = Vec::new();
    for w in seekers {
        if free.is_empty() {
            break;
        }
        if let Some(i) = free
            .iter()
            .position(|s| !declined.contains(&(w.seeker, s.interviewer)))
        {
            let seat = free.remove(i);
            pairs.push(Pair {
                seeker: w.seeker,
                interviewer: seat.interviewer,
            });
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn longest_waiting_gets_longest_idle() {
        let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
        let (x, y) = (UserId::new(), UserId::new());
        let waiting = [
            Waiting {
                seeker: b,
                joined_at: t(2),
            },
            Waiting {
                seeker: a,
                joined_at: t(1),
            },
            Waiting {
                seeker: c,
                joined_at: t(3),
            },
        ];
        let seats = [
            FreeSeat {
                interviewer: x,
                idle_since: t(5),
            },
            FreeSeat {
                interviewer: y,
                idle_since: t(4),
            },
        ];
        let pairs = plan(&waiting, &seats, &HashSet::new());
        assert_eq!(
            pairs,
            [
                Pair {
                    seeker: a,
                    interviewer: y
                },
                Pair {
                    seeker: b,
                    interviewer: x
                }
            ]
        );
        // y declined a: a gets x, b gets y.
        let declined = HashSet::from([(a, y)]);
        let pairs = plan(&waiting, &seats, &declined);
        assert_eq!(
            pairs,
            [
                Pair {
                    seeker: a,
                    interviewer: x
                },
                Pair {
                    seeker: b,
                    interviewer: y
                }
            ]
        );
        // Both declined a: a keeps waiting, b and c are served.
        let declined = HashSet::from([(a, y), (a, x)]);
        let pairs = plan(&waiting, &seats, &declined);
        assert_eq!(pairs.iter().map(|p| p.seeker).collect::<Vec<_>>(), [b, c]);
        assert!(plan(&waiting, &[], &HashSet::new()).is_empty());
    }

    fn scenario() -> impl Strategy<Value = (Vec<Waiting>, Vec<FreeSeat>, HashSet<(UserId, UserId)>)>
    {
        (1usize..12, 0usize..8).prop_flat_map(|(ns, ni)| {
            let seekers: Vec<UserId> = (0..ns).map(|_| UserId::new()).collect();
            let interviewers: Vec<UserId> = (0..ni).map(|_| UserId::new()).collect();
            (
                proptest::collection::vec(0i64..20, ns),
                proptest::collection::vec(0i64..20, ni),
                proptest::collection::vec(any::<bool>(), ns * ni),
            )
                .prop_map(move |(joins, idles, declines)| {
                    let waiting = seekers
                        .iter()
                        .zip(&joins)
                        .map(|(&s, &j)| Waiting {
                            seeker: s,
                            joined_at: t(j),
                        })
                        .collect();
                    let seats = interviewers
                        .iter()
                        .zip(&idles)
                        .map(|(&i, &d)| FreeSeat {
                            interviewer: i,
                            idle_since: t(d),
                        })
                        .collect();
                    let mut declined = HashSet::new();
                    for (k, &d) in declines.iter().enumerate() {
                        if d && k % 3 == 0 {
                            declined.insert((seekers[k / ni.max(1)], interviewers[k % ni.max(1)]));
                        }
                    }
                    (waiting, seats, declined)
                })
        })
    }

    proptest! {
        #[test]
        fn plans_are_exactly_once_fair_and_maximal((waiting, seats, declined) in scenario()) {
            let pairs = plan(&waiting, &seats, &declined);
            let seekers: HashSet<_> = pairs.iter().map(|p| p.seeker).collect();
            let interviewers: HashSet<_> = pairs.iter().map(|p| p.interviewer).collect();
            // One seat each, one match per seeker.
            prop_assert_eq!(seekers.len(), pairs.len());
            prop_assert_eq!(interviewers.len(), pairs.len());
            prop_assert!(pairs.len() <= seats.len());
            for p in &pairs {
                prop_assert!(!declined.contains(&(p.seeker, p.interviewer)));
                prop_assert!(waiting.iter().any(|w| w.seeker == p.seeker));
                prop_assert!(seats.iter().any(|s| s.interviewer == p.interviewer));
            }
            let joined = |s: UserId| waiting.iter().find(|w| w.seeker == s).unwrap().joined_at;
            let idle = |i: UserId| seats.iter().find(|s| s.interviewer == i).unwrap().idle_since;
            for w in &waiting {
                if seekers.contains(&w.seeker) {
                    continue;
                }
                // A seeker left waiting could meet none of the seats still free, nor any seat
                // given to someone who joined after them.
                for s in &seats {
                    let taken_by = pairs.iter().find(|p| p.interviewer == s.interviewer);
                    let open_to_w = match taken_by {
                        None => true,
                        Some(p) => (joined(p.seeker), p.seeker) > (w.joined_at, w.seeker),
                    };
                    if open_to_w {
                        prop_assert!(declined.contains(&(w.seeker, s.interviewer)));
                    }
                }
            }
            // Among matched seekers, an earlier one never got a seat that had been idle less
            // long than a later one's, unless they had declined it.
            for a in &pairs {
                for b in &pairs {
                    if (joined(a.seeker), a.seeker) < (joined(b.seeker), b.seeker)
                        && (idle(b.interviewer), b.interviewer) < (idle(a.interviewer), a.interviewer)
                    {
                        prop_assert!(declined.contains(&(a.seeker, b.interviewer)));
                    }
                }
            }
            // The number of seekers looked at stays within the bound the stores load.
            let served_from = seekers_needed(seats.len(), declined.len());
            let mut order: Vec<_> = waiting.clone();
            order.sort_by_key(|w| (w.joined_at, w.seeker));
            let truncated: Vec<_> = order.into_iter().take(served_from).collect();
            prop_assert_eq!(plan(&truncated, &seats, &declined), pairs);
        }
    }

    #[test]
    fn needed_seekers() {
        assert_eq!(seekers_needed(0, 5), 0);
        assert_eq!(seekers_needed(2, 1), 3);
    }
}
