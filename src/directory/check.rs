//! `switchboard check`: every stored workflow, service, user and calendar of every tenant,
//! with the problems named.

use std::collections::BTreeMap;

use serde_json::Value;

use super::calendar::Calendar;
use super::model::{Service, User};
use super::store::{self, Kind};
use crate::store::AsPool;
use crate::workflow::{self, Channel, Workflow};

/// Every problem in the stored directory, as `tenant: kind id: message` lines.
pub async fn check_all(pool: &(impl AsPool + ?Sized)) -> anyhow::Result<(usize, Vec<String>)> {
    let tenants: Vec<String> = crate::db!(pool.on(), |c| {
        sqlx::query_scalar("SELECT DISTINCT tenant_id FROM directory_documents ORDER BY tenant_id")
            .fetch_all(c)
            .await
    })?;
    let mut problems = Vec::new();
    let mut checked = 0;
    for tenant in &tenants {
        let mut workflows: BTreeMap<String, Workflow> = BTreeMap::new();
        match store::list::<Value>(pool, tenant, Kind::Workflow).await {
            Ok(docs) => {
                for doc in docs {
                    checked += 1;
                    match workflow::check(&doc.value, Some(Channel::Interact)) {
                        Ok(w) => {
                            workflows.insert(w.id.clone(), w);
                        }
                        Err(found) => {
                            let id = doc
                                .value
                                .get("id")
                                .and_then(Value::as_str)
                                .unwrap_or("?")
                                .to_owned();
                            problems.extend(
                                found
                                    .into_iter()
                                    .map(|p| format!("{tenant}: workflow {id}: {p}")),
                            );
                            if let Ok(w) = workflow::parse(&doc.value) {
                                workflows.insert(w.id.clone(), w);
                            }
                        }
                    }
                }
            }
            Err(e) => problems.push(format!("{tenant}: {e}")),
        }
        match store::list::<Service>(pool, tenant, Kind::Service).await {
            Ok(services) => {
                let names = workflow::ServiceNames::new(
                    services
                        .iter()
                        .map(|s| (s.value.id.as_str(), s.value.name.as_str())),
                );
                for (id, w) in &workflows {
                    problems.extend(
                        workflow::unknown_transfer_targets(w, &names)
                            .into_iter()
                            .map(|p| format!("{tenant}: workflow {id}: {p}")),
                    );
                }
                for service in services {
                    checked += 1;
                    let s = service.value;
                    match s.workflow.as_ref().map(|id| (id, workflows.get(id))) {
                        Some((id, None)) => problems.push(format!(
                            "{tenant}: service {}: workflow {id} does not exist",
                            s.id
                        )),
                        Some((_, Some(w))) => {
                            if let Err(refusal) = s.check_workflow(w) {
                                problems.push(format!("{tenant}: service {}: {refusal}", s.id));
                            }
                        }
                        None => {}
                    }
                }
            }
            Err(e) => problems.push(format!("{tenant}: {e}")),
        }
        match store::list::<Calendar>(pool, tenant, Kind::Calendar).await {
            Ok(calendars) => {
                for calendar in calendars {
                    checked += 1;
                    if let Err(e) = calendar.value.validate() {
                        problems.push(format!("{tenant}: {e}"));
                    }
                }
            }
            Err(e) => problems.push(format!("{tenant}: {e}")),
        }
        match store::list::<User>(pool, tenant, Kind::User).await {
            Ok(users) => checked += users.len(),
            Err(e) => problems.push(format!("{tenant}: {e}")),
        }
    }
    Ok((checked, problems))
}
