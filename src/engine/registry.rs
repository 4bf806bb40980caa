//! All tenants' engines: started on first use, and at boot for every tenant with stored engine
//! state (so its timers keep running after a restart); stopped together at shutdown.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::actor::{EffectRecorder, Engine};
use super::effects::EffectQueue;
use crate::clock::Clock;
use crate::store::{AsPool, Pool};

pub struct Engines {
    pool: Pool,
    clock: Arc<dyn Clock>,
    /// Where every engine hands its committed effects.
    effects: Arc<EffectQueue>,
    /// What every engine writes in its transactions besides its own rows (webhook deliveries).
    recorder: Arc<dyn EffectRecorder>,
    shutdown: CancellationToken,
    running: Mutex<HashMap<String, (Engine, JoinHandle<()>)>>,
}

impl Engines {
    pub fn new(
        pool: Pool,
        clock: Arc<dyn Clock>,
        effects: Arc<EffectQueue>,
        recorder: Arc<dyn EffectRecorder>,
    ) -> Self {
        Engines {
            pool,
            clock,
            effects,
            recorder,
            shutdown: CancellationToken::new(),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's engine, started if it is not running.
    pub async fn get(&self, tenant: &str) -> anyhow::Result<Engine> {
        let mut running = self.running.lock().await;
        if let Some((engine, _)) = running.get(tenant) {
            return Ok(engine.clone());
        }
        let (engine, handle) = Engine::start_handing_to(
            self.pool.clone(),
            tenant,
            Arc::clone(&self.clock),
            Arc::clone(&self.effects),
            Some(Arc::clone(&self.recorder)),
            self.shutdown.child_token(),
        )
        .await?;
        running.insert(tenant.to_owned(), (engine.clone(), handle));
        tracing::info!(tenant.id = tenant, "engine started");
        Ok(engine)
    }

    /// Starts the engine of every tenant that has stored state; returns how many.
    pub async fn resume_all(&self) -> anyhow::Result<usize> {
        let tenants: Vec<String> = crate::db!(self.pool.on(), |c| {
            sqlx::query_scalar(
                "SELECT tenant_id FROM engine_snapshots UNION SELECT DISTINCT tenant_id FROM engine_log",
            )
            .fetch_all(c)
            .await
        })?;
        for tenant in &tenants {
            self.get(tenant).await?;
        }
        Ok(tenants.len())
    }

    /// Tenants whose engine is running.
    pub async fn running(&self) -> Vec<String> {
        let mut tenants: Vec<String> = self.running.lock().await.keys().cloned().collect();
        tenants.sort();
        tenants
    }

    /// Stops every engine; each writes a snapshot on its way out.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        let running: Vec<_> = self.running.lock().await.drain().collect();
        for (tenant, (_, handle)) in running {
            if handle.await.is_err() {
                tracing::error!(tenant.id = %tenant, "an engine ended abnormally");
            }
        }
    }
}
