//! Serde support for state that holds `minidom::Element`s (stored as XML text).

pub(crate) mod counters {
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::time::SystemTime;

    use minidom::Element;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::core::{Counters, Queued};
    use crate::ns::Namespace;

    #[derive(Serialize, Deserialize)]
    struct Stored {
        ns: Namespace,
        outbound: u32,
        sent: u32,
        acked: u32,
        inbound: u32,
        queue: Vec<StoredStanza>,
    }

    #[derive(Serialize, Deserialize)]
    struct StoredStanza {
        xml: String,
        first_sent: SystemTime,
    }

    pub(crate) fn serialize<S: Serializer>(c: &Counters, s: S) -> Result<S::Ok, S::Error> {
        Stored {
            ns: c.ns,
            outbound: c.outbound,
            sent: c.sent,
            acked: c.acked,
            inbound: c.inbound,
            queue: c
                .queue
                .iter()
                .map(|q| StoredStanza {
                    xml: String::from(&*q.stanza),
                    first_sent: q.first_sent,
                })
                .collect(),
        }
        .serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Counters, D::Error> {
        let stored = Stored::deserialize(d)?;
        let queue = stored
            .queue
            .into_iter()
            .map(|q| {
                let stanza: Element = q.xml.parse().map_err(D::Error::custom)?;
                Ok(Queued {
                    stanza: Arc::new(stanza),
                    first_sent: q.first_sent,
                })
            })
            .collect::<Result<VecDeque<_>, D::Error>>()?;
        let queued = crate::seq::distance(stored.acked, stored.outbound);
        if queued as usize != queue.len() {
            return Err(D::Error::custom("queue length does not match the counters"));
        }
        if crate::seq::distance(stored.acked, stored.sent) > queued {
            return Err(D::Error::custom(
                "`sent` is not between `acked` and `outbound`",
            ));
        }
        Ok(Counters {
            ns: stored.ns,
            outbound: stored.outbound,
            sent: stored.sent,
            acked: stored.acked,
            inbound: stored.inbound,
            queue,
        })
    }
}

/// `Unacked` as `{ xml, first_sent }`.
mod unacked {
    use std::time::SystemTime;

    use minidom::Element;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::transmit::Unacked;

    #[derive(Serialize, Deserialize)]
    struct Stored {
        xml: String,
        first_sent: SystemTime,
    }

    impl Serialize for Unacked {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            Stored {
                xml: String::from(&self.stanza),
                first_sent: self.first_sent,
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for Unacked {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let stored = Stored::deserialize(d)?;
            let stanza: Element = stored.xml.parse().map_err(D::Error::custom)?;
            Ok(Self {
                stanza,
                first_sent: stored.first_sent,
            })
        }
    }
}
