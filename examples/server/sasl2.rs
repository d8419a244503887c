//! SASL2 (XEP-0388) with Bind2 (XEP-0386) and stream management inline (XEP-0198 §9): one
//! `<authenticate/>` may carry a `<resume/>` and a `<bind/>` with an `<enable/>`; one
//! `<success/>` answers all of them, with no stream restart.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use xmpp_tether::jid::FullJid;
use xmpp_tether::minidom::Element;
use xmpp_tether::sm::Server;

use crate::auth::{Exchange, Step};
use crate::conn::{Conn, End};
use crate::negotiate::{BIND2, SASL2, initial_response, sasl_failure};

impl Conn {
    /// One SASL2 exchange; `true` once `<success/>` (and what follows it) was sent.
    pub(crate) async fn sasl2(&mut self, authenticate: Element) -> Result<bool, End> {
        let mechanism = authenticate.attr("mechanism").unwrap_or_default();
        let Some(mut exchange) = Exchange::start(&self.shared.accounts, mechanism) else {
            self.write(&sasl_failure(SASL2, "invalid-mechanism"))
                .await?;
            return Ok(false);
        };
        let initial = authenticate
            .get_child("initial-response", SASL2)
            .map(|r| initial_response(&r.text()));
        let mut input = match initial {
            None => None,
            Some(Ok(bytes)) => bytes.or_else(|| Some(Vec::new())),
            Some(Err(_)) => {
                self.write(&sasl_failure(SASL2, "incorrect-encoding"))
                    .await?;
                return Ok(false);
            }
        };
        let (user, data) = loop {
            match exchange.step(input.as_deref()) {
                Step::Challenge(data) => {
                    let challenge = Element::builder("challenge", SASL2)
                        .append(B64.encode(data))
                        .build();
                    self.write(&challenge).await?;
                    let response = self.element().await?;
                    match (
                        response.is("response", SASL2),
                        B64.decode(response.text().trim()),
                    ) {
                        (true, Ok(bytes)) => input = Some(bytes),
                        _ => {
                            self.write(&sasl_failure(SASL2, "aborted")).await?;
                            return Ok(false);
                        }
                    }
                }
                Step::Success { user, data } => break (user, data),
                Step::Failure => {
                    self.write(&sasl_failure(SASL2, "not-authorized")).await?;
                    return Ok(false);
                }
            }
        };
        self.start_session(&user)?;
        self.inline_resume(&authenticate).await?;
        let bind = authenticate
            .children()
            .find(|c| c.is("bind", BIND2) || c.is("bind", "urn:xmpp:bind2:1"));
        // sm {
        let resumed = self.sm.as_ref().is_some_and(Server::is_resumed);
        // sm }
        let bound = match bind.filter(|_| !resumed) {
            Some(bind) => Some(self.bind2(bind)?),
            None => None,
        };
        // Push 2.0's <enable/> inside <bind/>; its answer goes into <bound/>.
        // push2 {
        if let (Some(jid), Some(bind)) = (&bound, bind) {
            let now = self.shared.now();
            self.shared.push2_bind2(now, jid, &authenticate, bind);
        }
        // push2 }
        let was_bound = bound.is_some();
        self.success(data, bound).await?;
        if !resumed {
            // XEP-0388 §2.6: features follow, without what is already done (xmpp.js would
            // bind again, or resume the session it just enabled).
            let features = self.bound_features(!was_bound);
            self.write(&features).await?;
        }
        self.flush().await?;
        Ok(true)
    }

    /// XEP-0198 §9.2: a `<resume/>` inside `<authenticate/>`. If the session is still held by
    /// an old stream, wait (bounded by the store's handover timeout) for it to be handed over.
    async fn inline_resume(&mut self, authenticate: &Element) -> Result<(), End> {
        let now = self.shared.now();
        // cluster {
        #[cfg(feature = "cluster")]
        self.shared
            .cluster_resume(now, self.owner(), authenticate)
            .await;
        // cluster }
        // sm {
        let _ = self.sm()?.handle_authenticate(now, authenticate);
        // sm }
        while self.resume_pending() {
            let sleep = self.deadline();
            tokio::select! {
                signal = self.signals.recv() => self.on_signal(signal)?,
                () = crate::conn::sleep_until(sleep) => self.on_timer()?,
            }
        }
        Ok(())
    }

    /// Whether the resumption waits for the old stream to hand the session over.
    fn resume_pending(&self) -> bool {
        // sm {
        self.sm.as_ref().is_some_and(Server::is_resume_pending)
        // sm }
    }

    /// XEP-0386 §3.2: binds a resource made from the client's tag, then the inline
    /// `<enable/>` (placement Bind2).
    fn bind2(&mut self, bind: &Element) -> Result<FullJid, End> {
        let tag = bind
            .children()
            .find(|c| c.name() == "tag")
            .map(Element::text)
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "tether".to_owned());
        let fresh = rand_core::Rng::next_u32(&mut *crate::state::lock(&self.shared.rng));
        let jid = self
            .bind(Some(&format!("{tag}.{fresh:08x}")))
            .ok_or(End::Closed(None))?;
        let now = self.shared.now();
        // sm {
        let _ = self.sm()?.handle_bind2(now, bind);
        // sm }
        Ok(jid)
    }

    /// `<success/>`, holding every inline answer in the order XEP-0198 §9.2.1 gives them
    /// (the resume's answer, then `<bound/>` with the enable's), then whatever the stream
    /// queued at the top level (retransmissions after a resume).
    async fn success(&mut self, data: Option<Vec<u8>>, bound: Option<FullJid>) -> Result<(), End> {
        let sm = self.sm.as_mut().ok_or(End::Closed(None))?;
        // The full JID once bound or resumed (xmpp.js takes it as its own).
        let identity = sm
            .resource()
            .map_or_else(|| sm.owner().to_string(), ToString::to_string);
        let mut success = Element::builder("success", SASL2).build();
        if let Some(data) = data {
            success.append_child(
                Element::builder("additional-data", SASL2)
                    .append(B64.encode(data))
                    .build(),
            );
        }
        success.append_child(
            Element::builder("authorization-identifier", SASL2)
                .append(identity)
                .build(),
        );
        // The resume's answer, then <bound/> with the enable's; retransmissions after a
        // resume stay in the stream's queue and follow <success/> in the next flush.
        // sm {
        let inline = sm.take_inline();
        // sm }
        let bound = bound.map(|jid| {
            Element::builder("bound", BIND2)
                .append_all(inline.bind2)
                .append_all(self.shared.push2_bound(&jid)) // push2
                .build()
        });
        for el in inline.sasl2.into_iter().chain(bound) {
            success.append_child(el);
        }
        self.write(&success).await
    }
}
