//! Registrations with the bot (`registrations`): the personal chat each user is reached in,
//! whether they are registered now, and their presence (`available` / `away`). The bot writes
//! them on install and uninstall, the Preferences page on register and unregister; the engine
//! sync reads them. Sending anything to the user is not this module's business.

use crate::store::{AsConn, AsPool};
use crate::store::{IntoExecutor, on_executor};

/// The presence an agent chose with `available` / `away` (stored as that word). Anything else
/// in the column reads as available, as it always has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChosenPresence {
    #[default]
    Available,
    Away,
}

impl ChosenPresence {
    pub fn as_str(self) -> &'static str {
        match self {
            ChosenPresence::Available => "available",
            ChosenPresence::Away => "away",
        }
    }

    /// `available` or `away`, as a command word; `None` for any other word.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "available" => Some(ChosenPresence::Available),
            "away" => Some(ChosenPresence::Away),
            _ => None,
        }
    }
}

/// A user's registration with the bot: the personal chat it reaches them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub tenant_id: String,
    pub user_id: String,
    pub channel_user_id: String,
    pub conversation_id: String,
    pub service_url: String,
    pub bot_id: String,
    pub registered: bool,
    pub presence: ChosenPresence,
    /// The user's Teams locale (`de-DE`), when an activity told it.
    pub locale: Option<String>,
}

/// A row of [`REGISTRATION_COLUMNS`], in their order.
type RegistrationRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    bool,
    String,
    Option<String>,
);

fn registration(r: RegistrationRow) -> Registration {
    let (
        tenant_id,
        user_id,
        channel_user_id,
        conversation_id,
        service_url,
        bot_id,
        registered,
        presence,
        locale,
    ) = r;
    Registration {
        tenant_id,
        user_id,
        channel_user_id,
        conversation_id,
        service_url,
        bot_id,
        registered,
        presence: ChosenPresence::from_word(&presence).unwrap_or_default(),
        locale,
    }
}

const REGISTRATION_COLUMNS: &str = "tenant_id, user_id, channel_user_id, conversation_id, \
     service_url, bot_id, registered, presence, locale";

/// Records a registration (or its end); the presence is kept. Returns `false` when the user
/// was already registered in the same conversation (nothing changed): install events come in
/// pairs, and only the first one registers.
pub async fn put_registration(
    conn: &mut (impl AsConn + ?Sized),
    r: &Registration,
    now: i64,
) -> sqlx::Result<bool> {
    let affected = crate::db!(conn.conn(), |c| {
        sqlx::query(
            "INSERT INTO registrations (tenant_id, user_id, channel_user_id, conversation_id,
            service_url, bot_id, registered, presence, updated_at, locale)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET channel_user_id = excluded.channel_user_id,
            conversation_id = excluded.conversation_id, service_url = excluded.service_url,
            bot_id = excluded.bot_id, registered = excluded.registered,
            updated_at = excluded.updated_at,
            locale = COALESCE(excluded.locale, registrations.locale)
         WHERE NOT (registrations.registered AND excluded.registered
                    AND registrations.conversation_id = excluded.conversation_id)",
        )
        .bind(&r.tenant_id)
        .bind(&r.user_id)
        .bind(&r.channel_user_id)
        .bind(&r.conversation_id)
        .bind(&r.service_url)
        .bind(&r.bot_id)
        .bind(r.registered)
        .bind(r.presence.as_str())
        .bind(now)
        .bind(&r.locale)
        .execute(c)
        .await
        .map(|result| result.rows_affected())
    })?;
    Ok(affected > 0)
}

pub async fn set_presence(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    user: &str,
    presence: ChosenPresence,
    now: i64,
) -> sqlx::Result<()> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "UPDATE registrations SET presence = $3, updated_at = $4 WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant)
        .bind(user)
        .bind(presence.as_str())
        .bind(now)
        .execute(c)
        .await
        .map(|_| ())
    })
}

/// The user's registration (registered now or not), on a pool or in the caller's connection.
pub async fn registration_of<'e>(
    db: impl IntoExecutor<'e>,
    tenant: &str,
    user: &str,
) -> sqlx::Result<Option<Registration>> {
    let sql = format!(
        "SELECT {REGISTRATION_COLUMNS} FROM registrations WHERE tenant_id = $1 AND user_id = $2"
    );
    let row: Option<RegistrationRow> = on_executor!(db.executor(), |c| {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(user)
            .fetch_optional(c)
            .await
    })?;
    Ok(row.map(registration))
}

/// The user's registration if they are registered now.
pub async fn registered(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    user: &str,
) -> sqlx::Result<Option<Registration>> {
    Ok(registration_of(pool, tenant, user)
        .await?
        .filter(|r| r.registered))
}
