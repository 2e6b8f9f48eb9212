//! Which node should own which partition: computed by every node from
//! the same list of live nodes, so they agree without talking; the
//! partition leases then arbitrate the hand-overs.
//!
//! Rendezvous hashing with exact quotas: each partition ranks the nodes
//! by a hash of (node, partition) and goes to the best-ranked node with
//! room left, where the room of each node is its even share (`P / N`,
//! and one more for the first `P % N` nodes in name order). So the shares
//! never differ by more than one partition, and a node joining or leaving
//! moves little more than its own share, since the ranking of the others
//! does not change.

/// The owner (an index into `nodes`, sorted by name) of each partition
/// `0..partitions`. Empty `nodes`: nobody owns anything.
pub fn assign(nodes: &[String], partitions: usize) -> Vec<Option<usize>> {
    let mut sorted: Vec<&String> = nodes.iter().collect();
    sorted.sort();
    sorted.dedup();
    let m = sorted.len();
    if m == 0 {
        return vec![None; partitions];
    }
    let mut room: Vec<usize> = (0..m)
        .map(|i| partitions / m + usize::from(i < partitions % m))
        .collect();
    let mut owners = Vec::with_capacity(partitions);
    for p in 0..partitions {
        let mut ranked: Vec<usize> = (0..m).collect();
        ranked.sort_by_key(|&i| std::cmp::Reverse(score(sorted[i], p)));
        let owner = ranked.into_iter().find(|&i| room[i] > 0);
        if let Some(i) = owner {
            room[i] -= 1;
        }
        // Back to the caller's order of `nodes`.
        owners.push(owner.and_then(|i| nodes.iter().position(|x| x == sorted[i])));
    }
    owners
}

/// The partitions `node` should own.
pub fn owned_by(node: &str, nodes: &[String], partitions: usize) -> Vec<usize> {
    let Some(me) = nodes.iter().position(|m| m == node) else {
        return Vec::new();
    };
    assign(nodes, partitions)
        .into_iter()
        .enumerate()
        .filter_map(|(p, owner)| (owner == Some(me)).then_some(p))
        .collect()
}

/// The rendezvous score of `node` for partition `p`: FNV-1a of both,
/// mixed (splitmix64's finaliser) so that close names score apart.
fn score(node: &str, p: usize) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let bytes = node.bytes().chain([0x1f]).chain((p as u64).to_le_bytes());
    let mut z = bytes.fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("host-{i}")).collect()
    }

    /// Partition -> owner name.
    fn by_name(nodes: &[String], partitions: usize) -> Vec<String> {
        assign(nodes, partitions)
            .into_iter()
            .map(|o| o.map(|i| nodes[i].clone()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn shares_differ_by_at_most_one() {
        for m in 1..=10 {
            let nodes = names(m);
            let owners = assign(&nodes, 64);
            let mut counts = vec![0usize; m];
            for o in &owners {
                counts[o.expect("every partition has an owner")] += 1;
            }
            let (lo, hi) = (counts.iter().min(), counts.iter().max());
            assert!(
                hi.zip(lo).is_some_and(|(h, l)| h - l <= 1),
                "{m}: {counts:?}"
            );
        }
        assert_eq!(assign(&[], 4), vec![None; 4]);
    }

    #[test]
    fn every_node_computes_the_same_assignment() {
        let nodes = names(5);
        let mut shuffled = nodes.clone();
        shuffled.reverse();
        shuffled.swap(0, 2);
        assert_eq!(by_name(&nodes, 64), by_name(&shuffled, 64));
        let mine: usize = nodes.iter().map(|m| owned_by(m, &nodes, 64).len()).sum();
        assert_eq!(mine, 64);
    }

    #[test]
    fn a_join_or_a_leave_moves_little_more_than_one_share() {
        for m in 1..=6 {
            let before = names(m);
            let after = names(m + 1);
            let (a, b) = (by_name(&before, 64), by_name(&after, 64));
            let moved = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            // The newcomer's share, plus a few for the quotas shifting.
            assert!(
                moved <= 64 / (m + 1) + m + 1,
                "{m} -> {}: {moved} moved",
                m + 1
            );
        }
        // A node from the middle of the name order leaves.
        let all = names(5);
        let rest: Vec<String> = all.iter().filter(|n| *n != "host-2").cloned().collect();
        let (a, b) = (by_name(&all, 64), by_name(&rest, 64));
        let its_share = a.iter().filter(|o| *o == "host-2").count();
        let moved = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert!(moved >= its_share, "its partitions must move");
        assert!(
            moved <= its_share + 5,
            "{moved} moved for a share of {its_share}"
        );
    }
}
