//! Who is at the other end of a connection, and each address's share of
//! the connections: one client (a runaway script, a scanner, an attacker
//! on the lab network) must not hold every connection the server has.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

/// The address a request came from, in its extensions (set for every
/// connection the server accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

/// Open connections by client address, each address at most `cap`.
#[derive(Debug)]
pub(crate) struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
    cap: usize,
    unlimited: Vec<IpAddr>,
}

impl PerAddress {
    /// At most `cap` connections from one address, except from `unlimited`.
    pub(crate) fn new(cap: usize, unlimited: &[IpAddr]) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(HashMap::new()),
            cap: cap.max(1),
            unlimited: unlimited.iter().map(IpAddr::to_canonical).collect(),
        })
    }

    /// A share for a new connection from `address`, or `None` when the
    /// address has its `cap` open already. Held while the connection is
    /// open.
    pub(crate) fn take(self: &Arc<Self>, address: IpAddr) -> Option<Share> {
        let address = address.to_canonical();
        if self.unlimited.contains(&address) {
            return Some(Share { owner: None, address });
        }
        let mut open = self.open.lock();
        let count = open.entry(address).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Share {
            owner: Some(self.clone()),
            address,
        })
    }

    /// How many connections `address` has open.
    #[cfg(test)]
    fn open(&self, address: IpAddr) -> usize {
        self.open.lock().get(&address).copied().unwrap_or(0)
    }
}

/// One connection's share of its address's cap; given back when dropped.
#[derive(Debug)]
pub(crate) struct Share {
    owner: Option<Arc<PerAddress>>,
    address: IpAddr,
}

impl Drop for Share {
    fn drop(&mut self) {
        let Some(owner) = &self.owner else { return };
        let mut open = owner.open.lock();
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // The map holds only addresses with connections open.
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_share_and_gets_it_back() {
        let (one, two) = ("127.0.0.2".parse().expect("ip"), "127.0.0.1".parse().expect("ip"));
        let shares = PerAddress::new(2, &["10.0.0.9".parse().expect("ip")]);
        let held: Vec<Share> = (0..2).filter_map(|_| shares.take(one)).collect();
        assert_eq!(held.len(), 2);
        assert!(shares.take(one).is_none(), "the third from one address is refused");
        assert!(shares.take(two).is_some(), "another address is not");
        let unlimited: Vec<Share> = (0..10)
            .filter_map(|_| shares.take("10.0.0.9".parse().expect("ip")))
            .collect();
        assert_eq!(unlimited.len(), 10);
        drop(held);
        assert_eq!(shares.open(one), 0);
        assert!(shares.open.lock().is_empty(), "nothing kept for closed addresses");
        // An IPv4 address seen as IPv6 is the same address.
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().expect("ip");
        let _a = shares.take(mapped);
        let _b = shares.take(one);
        assert!(shares.take(one).is_none());
    }
}
