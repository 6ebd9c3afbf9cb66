//! `refresh -p NAME`: always asks the server. User profiles redeem the
//! cached refresh token; app-only profiles make a new client credentials
//! request. The new token replaces the cached one.

use std::time::Instant;

use time::OffsetDateTime;

use super::get_token::{self, CachePolicy};
use crate::cache::{self, KeySource, Lookup, TokenCache};
use crate::cli::RefreshArgs;
use crate::error::{Error, Result};
use crate::profile::{self, ProfileStore};

pub fn run(args: &RefreshArgs) -> Result<()> {
    let store = ProfileStore::open_default()?;
    let profile = store.get(&args.profile)?.clone();
    let resolved = get_token::resolve(
        profile,
        args.flow,
        args.scope.as_deref(),
        args.authority.as_deref(),
        &args.certificate,
    )?;

    let token = if resolved.flow.is_user_flow() {
        let deadline = Instant::now() + args.timeout;
        let name = resolved.profile.name.clone();
        let no_sign_in = || {
            Error::SignInRequired(format!(
                "profile `{name}` has no stored sign-in to refresh; sign in with \
                 `entratool get-token -p {name}` first"
            ))
        };
        let key = cache::load_key(&KeySource::Keyring, false)?.ok_or_else(no_sign_in)?;
        let cache = TokenCache::new(&profile::config_dir()?, &resolved.profile.name, key);
        let identity = get_token::cache_identity(&resolved);
        let _lock = cache.lock(deadline)?;
        let refresh_token = match cache.lookup(&identity, OffsetDateTime::now_utc()) {
            Lookup::Fresh(token) | Lookup::Stale(token) => token.refresh_token,
            Lookup::Missing => None,
        }
        .ok_or_else(no_sign_in)?;
        let left = deadline.saturating_duration_since(Instant::now());
        match get_token::redeem_refresh_token(&resolved, &refresh_token, left) {
            Ok(token) => {
                cache.store(&identity, &token)?;
                token
            }
            Err(e) if get_token::is_invalid_grant(&e) => {
                cache.remove(&identity);
                return Err(Error::SignInRequired(format!(
                    "the stored sign-in of profile `{name}` was rejected ({e}); sign in again \
                     with `entratool get-token -p {name}`"
                )));
            }
            Err(e) => return Err(e),
        }
    } else {
        let policy = CachePolicy {
            read: false,
            write: true,
        };
        get_token::obtain(&resolved, policy, args.timeout)?
    };
    get_token::emit(&token, &resolved, &args.output)
}
