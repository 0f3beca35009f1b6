//! The `Privacy` and `Retention` JS classes (`trail.privacy`,
//! `trail.privacy.retention`): thin shells over [`crate::privacy::Privacy`].

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::input::js_out;
use super::input::{self, to_js};
use super::user_trail::{promise, Handle};
use crate::privacy::{
    AnonymizeOptions, AuditFilter, EraseOptions, ExportFormat, GrantOptions, RectifyOptions,
    WithdrawOptions,
};
use js_sys::Promise;

/// Privacy and compliance: `trail.privacy`.
#[wasm_bindgen(js_name = Privacy)]
pub struct JsPrivacy(Handle);

impl JsPrivacy {
    pub(crate) fn new(handle: Handle) -> Self {
        Self(handle)
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct GpcJs {
    source: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct LedgerJs {
    subject: Option<String>,
    after_seq: Option<i64>,
    limit: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct ExportJs {
    format: Option<String>,
    actor: Option<String>,
    timeout_ms: Option<u32>,
}

/// `{ force }` of `retirePlace`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RetireJs {
    force: Option<bool>,
}

/// `{ waitMs }` of `receipt`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct ReceiptJs {
    wait_ms: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct VacuumJs {
    into: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct RunJs {
    dry_run: Option<bool>,
    actor: Option<String>,
}

/// `{ head }` of `verifyLedger` and `verifyAudit`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct VerifyJs {
    head: Option<crate::privacy::Mark>,
}

/// `{ head, subject }` of `verifyLedger`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct LedgerVerifyJs {
    head: Option<crate::privacy::Mark>,
    subject: Option<String>,
}

/// `{ subject }` of `ledgerHead`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct SubjectJs {
    subject: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportMeta<'a> {
    format: ExportFormat,
    file_name: &'a str,
    mime_type: &'a str,
    counts: &'a std::collections::BTreeMap<String, u64>,
}

#[wasm_bindgen(js_class = Privacy)]
impl JsPrivacy {
    /// Records consent to purposes, with its proof in the ledger.
    ///
    /// ```javascript
    /// await trail.privacy.grant(userId, { purposes: ['analytics'], policyVersion: '2026-03', source: 'banner', text: bannerText });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<ConsentStatus>")]
    pub fn grant(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] subject: JsValue,
        #[wasm_bindgen(unchecked_param_type = "GrantOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let subject = input::string(&subject, "subject")?;
            let o: GrantOptions = input::parse(&options, "options")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(to_js(&t.privacy().grant(&subject, &o).await?))
            }))
        })
    }

    /// Records a withdrawal; with `erase: true`, also deletes what those
    /// purposes collected.
    ///
    /// ```javascript
    /// const { status, erased } = await trail.privacy.withdraw(userId, { purposes: ['analytics'], source: 'settings', erase: true });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<WithdrawResult>")]
    pub fn withdraw(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] subject: JsValue,
        #[wasm_bindgen(unchecked_param_type = "WithdrawOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let subject = input::string(&subject, "subject")?;
            let o: WithdrawOptions = input::parse(&options, "options")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(to_js(&t.privacy().withdraw(&subject, &o).await?))
            }))
        })
    }

    /// A subject's consent per purpose, with `needsReconsent` after a
    /// policy version bump.
    #[wasm_bindgen(unchecked_return_type = "Promise<ConsentStatus>")]
    pub fn status(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] subject: JsValue,
    ) -> Promise {
        promise(|| {
            let subject = input::string(&subject, "subject")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(to_js(&t.privacy().status(&subject).await?))
            }))
        })
    }

    /// Records a Global Privacy Control signal (`Sec-GPC: 1`): a withdrawal
    /// of `sale_share` and `marketing`.
    #[wasm_bindgen(js_name = applyGlobalPrivacyControl, unchecked_return_type = "Promise<ConsentStatus>")]
    pub fn apply_global_privacy_control(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] subject: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ source?: string }")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let subject = input::string(&subject, "subject")?;
            let o: GpcJs = input::options(&options, "options")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                {
                    js_out({
                        to_js(
                            &t.privacy()
                                .apply_global_privacy_control(&subject, o.source.as_deref())
                                .await?,
                        )
                    })
                }
            }))
        })
    }

    /// Consent ledger rows, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<LedgerEntry[]>")]
    pub fn ledger(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "LedgerQuery")] query: JsValue,
    ) -> Promise {
        promise(|| {
            let q: LedgerJs = input::options(&query, "query")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                {
                    js_out({
                        to_js(
                            &t.privacy()
                                .ledger(q.subject.as_deref(), q.after_seq, q.limit)
                                .await?,
                        )
                    })
                }
            }))
        })
    }

    /// Checks the consent ledger's hash chain and names any edited or
    /// removed row. With `{ head }`, a head kept outside the database
    /// (`ledgerHead()`), also that the ledger still holds it: a ledger
    /// rewritten from the start is found that way. With a shared store each
    /// subject's ledger is its own chain: name it with `{ subject }`.
    ///
    /// ```javascript
    /// const head = await trail.privacy.ledgerHead(); // keep it elsewhere
    /// const { ok, problems } = await trail.privacy.verifyLedger({ head });
    /// ```
    #[wasm_bindgen(js_name = verifyLedger, unchecked_return_type = "Promise<ChainReport>")]
    pub fn verify_ledger(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "LedgerVerifyOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let o: LedgerVerifyJs = input::options(&options, "options")?;

            Ok(self.0.run(move |open| async move {
                let p = open.trail.privacy();
                js_out(to_js(
                    &p.verify_ledger(o.subject.as_deref(), o.head.as_ref())
                        .await?,
                ))
            }))
        })
    }

    /// The consent ledger's head, `{ seq, hash }`: keep it outside the
    /// database and pass it to `verifyLedger` later. With a shared store,
    /// of `{ subject }`'s ledger.
    #[wasm_bindgen(js_name = ledgerHead, unchecked_return_type = "Promise<ChainHead>")]
    pub fn ledger_head(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ subject?: string }")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let o: SubjectJs = input::options(&options, "options")?;
            Ok(self.0.run(move |open| async move {
                let p = open.trail.privacy();
                js_out(to_js(&p.ledger_head(o.subject.as_deref()).await?))
            }))
        })
    }

    /// Everything held about a subject, as a file to hand over.
    ///
    /// ```javascript
    /// const file = await trail.privacy.export(userId, { format: 'json' });
    /// const blob = new Blob([file.bytes], { type: file.mimeType });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<ExportFile>")]
    pub fn export(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] subject: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ExportOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let subject = input::string(&subject, "subject")?;
            let on_progress = input::get(&options, "onProgress", "onProgress")?;
            let callback = input::opt_function(on_progress, "onProgress")?;
            let o: ExportJs = input::options_without(&options, "options", &["onProgress"])?;
            let format = ExportFormat::parse(o.format.as_deref().unwrap_or("json"))?;

            Ok(self.0.run_later(move |open| async move {
                let t = &open.trail;
                {
                    js_out({
                        let mut report = |p: &crate::privacy::ExportProgress| {
                            if let (Some(f), Ok(v)) = (&callback, to_js(p)) {
                                // A throwing callback does not stop the export.
                                let _ = f.call1(&JsValue::NULL, &v);
                            }
                        };
                        let file = t
                            .privacy()
                            .export_from(
                                &subject,
                                format,
                                o.actor.as_deref(),
                                o.timeout_ms.unwrap_or(crate::privacy::DEFAULT_GATHER_MS),
                                &mut report,
                            )
                            .await?;
                        let out = to_js(&ExportMeta {
                            format: file.format,
                            file_name: &file.file_name,
                            mime_type: file.mime_type,
                            counts: &file.counts,
                        })?;
                        let bytes = js_sys::Uint8Array::from(&file.bytes[..]);
                        let _ = js_sys::Reflect::set(&out, &"bytes".into(), &bytes);
                        Ok(out)
                    })
                }
            }))
        })
    }

    /// Erases everything held about a subject and its linked anonymous
    /// ids; leaves an audit tombstone and the ledger under a salted hash.
    ///
    /// ```javascript
    /// await trail.privacy.erase(userId, { reason: 'user request', actor: 'support:42' });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<EraseReport>")]
    pub fn erase(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] subject: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "EraseOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let subject = input::string(&subject, "subject")?;
            let o: EraseOptions = input::options(&options, "options")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(to_js(&t.privacy().erase(&subject, &o).await?))
            }))
        })
    }

    /// Replaces a subject's ids by random pseudonyms and strips personal
    /// data from its events; aggregate analytics stay the same.
    #[wasm_bindgen(unchecked_return_type = "Promise<AnonymizeReport>")]
    pub fn anonymize(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] subject: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "AnonymizeOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let subject = input::string(&subject, "subject")?;
            let o: AnonymizeOptions = input::options(&options, "options")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(to_js(&t.privacy().anonymize(&subject, &o).await?))
            }))
        })
    }

    /// Rewrites the whole database (`VACUUM`), giving free pages back to the
    /// file system. Erasure does not need it, except once for a database
    /// created before pages were scrubbed (see `EraseOptions.vacuum`).
    ///
    /// With `{ into }`, a file path, writes a compacted copy there instead
    /// (`VACUUM INTO`) and leaves this database as it is.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn vacuum(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ into?: string }")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let o: VacuumJs = input::options(&options, "options")?;
            Ok(self.0.now(move |t| match o.into {
                Some(path) => js_out(t.privacy().vacuum_into(&path)),
                None => js_out(t.privacy().vacuum()),
            }))
        })
    }

    /// Consent rates per purpose and policy version: of the subjects whose
    /// current decision is under that version, how many granted it. With a
    /// shared store, `UNSUPPORTED` (the decisions live in Redis).
    #[wasm_bindgen(js_name = consentRates, unchecked_return_type = "Promise<ConsentRate[]>")]
    pub fn consent_rates(&self) -> Promise {
        promise(|| {
            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.privacy().consent_rates()?))))
        })
    }

    /// Renames a user everywhere. Returns the rows changed per table
    /// (`counts`) and, with a shared store, the receipt (`rights`).
    #[wasm_bindgen(unchecked_return_type = "Promise<RectifyReport>")]
    pub fn rectify(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] subject: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RectifyOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let subject = input::string(&subject, "subject")?;
            let o: RectifyOptions = input::parse(&options, "options")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(to_js(&t.privacy().rectify(&subject, &o).await?))
            }))
        })
    }

    /// Audit log entries, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<AuditEntry[]>")]
    pub fn audit(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AuditQuery")] query: JsValue,
    ) -> Promise {
        promise(|| {
            let q: AuditFilter = input::options(&query, "query")?;

            Ok(self.0.now(move |t| js_out(to_js(&t.privacy().audit(&q)?))))
        })
    }

    /// Checks the audit log's hash chain and names any edited or removed
    /// entry; with `{ head }` (from `auditHead()`), also that the log still
    /// holds it.
    #[wasm_bindgen(js_name = verifyAudit, unchecked_return_type = "Promise<ChainReport>")]
    pub fn verify_audit(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "VerifyOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let o: VerifyJs = input::options(&options, "options")?;

            Ok(self.0.now(move |t| {
                js_out(match &o.head {
                    Some(head) => to_js(&t.privacy().verify_audit_against(head)?),
                    None => to_js(&t.privacy().verify_audit()?),
                })
            }))
        })
    }

    /// The audit log's head, `{ seq, hash }`: keep it outside the database
    /// and pass it to `verifyAudit` later.
    #[wasm_bindgen(js_name = auditHead, unchecked_return_type = "Promise<ChainHead>")]
    pub fn audit_head(&self) -> Promise {
        promise(|| {
            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.privacy().audit_head()?))))
        })
    }

    /// How many events were not stored for want of `analytics` consent.
    #[wasm_bindgen(js_name = droppedWithoutConsent, unchecked_return_type = "Promise<number>")]
    pub fn dropped_without_consent(&self) -> Promise {
        promise(|| {
            Ok(self
                .0
                .now(move |t| js_out(Ok(t.privacy().dropped_without_consent()? as f64))))
        })
    }

    /// Applies what the shared store's rights log holds that this engine
    /// has not applied yet: erasures, anonymisations, rectifications and
    /// withdrawals exercised on any engine sharing the store; answers
    /// other engines' export requests. The package calls it when the
    /// engine opens and then every `followMs` (see `redisStore`); call it
    /// yourself to catch up at once. Without a shared store it does nothing.
    #[wasm_bindgen(unchecked_return_type = "Promise<Followed>")]
    pub fn follow(&self) -> Promise {
        promise(|| {
            Ok(self.0.run(move |open| async move {
                js_out(to_js(&open.trail.privacy().follow().await?))
            }))
        })
    }

    /// Where a right exercised with a shared store stands: which engines
    /// sharing the store have applied it. `id` is `report.rights.id` of an
    /// `erase`, `anonymize`, `rectify` or `withdraw`; with `{ waitMs }`,
    /// waits up to that long (at most 60,000 ms) for it to be complete.
    ///
    /// ```javascript
    /// const { rights } = await trail.privacy.erase(userId, { reason: 'user request' });
    /// const { complete, places } = await trail.privacy.receipt(rights.id, { waitMs: 5000 });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Receipt>")]
    pub fn receipt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ waitMs?: number }")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let id = input::string(&id, "id")?;
            let o: ReceiptJs = input::options(&options, "options")?;
            if o.wait_ms.is_some_and(|w| w > 60_000) {
                return Err(crate::Error::invalid("waitMs", "must be at most 60000"));
            }
            Ok(self.0.run(move |open| async move {
                let p = open.trail.privacy();
                js_out(to_js(&p.receipt_after(&id, o.wait_ms.unwrap_or(0)).await?))
            }))
        })
    }

    /// The engines following the shared store's rights log ("places"):
    /// durable ones (a file) until retired, ephemeral ones (memory) while
    /// live.
    #[wasm_bindgen(unchecked_return_type = "Promise<Place[]>")]
    pub fn places(&self) -> Promise {
        promise(|| {
            Ok(self.0.run(move |open| async move {
                js_out(to_js(&open.trail.privacy().places().await?))
            }))
        })
    }

    /// Forgets a durable place that will not come back (its machine is gone
    /// for good), so that receipts stop waiting for it. A place that
    /// reported within the last 30 s is refused (`INVALID_INPUT`) unless
    /// `{ force: true }`. Resolves with whether it was known.
    #[wasm_bindgen(js_name = retirePlace, unchecked_return_type = "Promise<boolean>")]
    pub fn retire_place(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ force?: boolean }")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let id = input::string(&id, "id")?;
            let o: RetireJs = input::options(&options, "options")?;
            Ok(self.0.run(move |open| async move {
                js_out(Ok(JsValue::from_bool(
                    open.trail
                        .privacy()
                        .retire_place(&id, o.force.unwrap_or(false))
                        .await?,
                )))
            }))
        })
    }

    /// Retention settings and runs. See the `PrivacyRetention` class.
    #[wasm_bindgen(getter)]
    pub fn retention(&self) -> JsRetention {
        JsRetention(self.0.clone())
    }
}

/// Retention: `trail.privacy.retention`.
#[wasm_bindgen(js_name = PrivacyRetention)]
pub struct JsRetention(Handle);

#[wasm_bindgen(js_class = PrivacyRetention)]
impl JsRetention {
    /// The policy in force.
    #[wasm_bindgen(unchecked_return_type = "Promise<RetentionPolicy>")]
    pub fn get(&self) -> Promise {
        promise(|| {
            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.privacy().retention()?))))
        })
    }

    /// Changes the categories given (a duration such as `'30d'`, or `null`
    /// to keep forever); the others stay.
    ///
    /// ```javascript
    /// await trail.privacy.retention.set({ events: '400d', outbox: '7d' });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<RetentionPolicy>")]
    pub fn set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Partial<RetentionPolicy> & { actor?: string }")]
        changes: JsValue,
    ) -> Promise {
        promise(|| {
            let mut changes = input::object(&changes, "changes")?;
            let actor = match changes.remove("actor") {
                Some(serde_json::Value::String(a)) => Some(a),
                Some(_) => return Err(crate::Error::invalid("changes.actor", "must be a string")),
                None => None,
            };

            Ok(self.0.now(move |t| {
                js_out(to_js(
                    &t.privacy().set_retention(&changes, actor.as_deref())?,
                ))
            }))
        })
    }

    /// When retention last ran in this engine (`lastRun`, ms, or `null`
    /// before the first run since it opened) and when it is due next
    /// (`nextRun`): it runs at the first write from then on.
    #[wasm_bindgen(unchecked_return_type = "Promise<RetentionSchedule>")]
    pub fn schedule(&self) -> Promise {
        promise(|| {
            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.privacy().retention_schedule()))))
        })
    }

    /// Deletes what the policy no longer keeps, or with `dryRun`, counts it.
    #[wasm_bindgen(unchecked_return_type = "Promise<RetentionReport>")]
    pub fn run(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ dryRun?: boolean; actor?: string }")]
        options: JsValue,
    ) -> Promise {
        promise(|| {
            let o: RunJs = input::options(&options, "options")?;

            Ok(self.0.now(move |t| {
                js_out({
                    to_js(
                        &t.privacy()
                            .run_retention(o.dry_run.unwrap_or(false), o.actor.as_deref())?,
                    )
                })
            }))
        })
    }
}
