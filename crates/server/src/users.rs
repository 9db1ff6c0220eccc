//! Local users: argon2id password hashes, random passwords and API tokens, and the first
//! `admin` user. The binary's `trailwatch users …` commands call these.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use trailwatch_store::{State, TokenRow, UserRow};

use crate::auth::{MAX_PASSWORD_BYTES, TOKEN_PREFIX};
use crate::Error;

/// The shortest password `users add` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// 256 random bits from the operating system, as 64 hex digits.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A random password of 20 letters and digits (about 119 bits).
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..20)
        .map(|_| {
            // Rejection sampling keeps every character equally likely.
            loop {
                let b = (OsRng.next_u32() & 0xff) as usize;
                if b < 256 - 256 % ALPHABET.len() {
                    return ALPHABET[b % ALPHABET.len()] as char;
                }
            }
        })
        .collect()
}

/// An argon2id hash (PHC string, default parameters: 19 MiB, 2 passes) with a random salt.
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Invalid(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches `hash`. Without a hash (no such user) a dummy hash is checked
/// all the same, so that the time taken does not tell which usernames exist.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password(&random_password()).unwrap_or_default());
    let found = hash.is_some();
    let Ok(parsed) = PasswordHash::new(hash.unwrap_or(dummy)) else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && found
}

/// Names are 1 to 64 of letters, digits and `._@-`.
pub fn check_username(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "bad username {name:?}: use 1 to 64 letters, digits, '.', '_', '@' or '-'"
        )))
    }
}

/// At least [`MIN_PASSWORD_CHARS`] characters, at most [`MAX_PASSWORD_BYTES`] bytes.
pub fn check_password(password: &str) -> Result<(), Error> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::Invalid(format!("the password must have at most {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Adds a user with this password.
pub fn add_user(state: &State, username: &str, password: &str) -> Result<(), Error> {
    check_username(username)?;
    check_password(password)?;
    if !state.add_user(username, &hash_password(password)?, now_ms())? {
        return Err(Error::Invalid(format!("user {username:?} exists already")));
    }
    Ok(())
}

/// Sets a user's password, ending their sessions.
pub fn set_password(state: &mut State, username: &str, password: &str) -> Result<(), Error> {
    check_password(password)?;
    if !state.set_password(username, &hash_password(password)?)? {
        return Err(Error::Invalid(format!("no user {username:?}")));
    }
    Ok(())
}

pub fn list(state: &State) -> Result<Vec<UserRow>, Error> {
    Ok(state.users()?)
}

/// Deletes a user with their sessions and tokens.
pub fn delete(state: &mut State, username: &str) -> Result<(), Error> {
    if !state.delete_user(username)? {
        return Err(Error::Invalid(format!("no user {username:?}")));
    }
    Ok(())
}

/// Creates an API token for a user and returns it; only its hash is stored, so this is the
/// one time it can be seen.
pub fn create_token(state: &State, username: &str, name: &str) -> Result<String, Error> {
    if state.password_hash(username)?.is_none() {
        return Err(Error::Invalid(format!("no user {username:?}")));
    }
    let token = format!("{TOKEN_PREFIX}{}", random_hex());
    state.add_token(&TokenRow {
        id_hash: sha256_hex(&token),
        username: username.to_owned(),
        name: name.to_owned(),
        created_at: now_ms(),
    })?;
    Ok(token)
}

/// With no user at all, creates `admin` with a random password and returns the password (for
/// the caller to show once); otherwise does nothing.
pub fn ensure_admin(state: &State) -> Result<Option<String>, Error> {
    if state.user_count()? > 0 {
        return Ok(None);
    }
    let password = random_password();
    add_user(state, "admin", &password)?;
    Ok(Some(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("wrong", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("x", Some("not a hash")));
    }

    #[test]
    fn random_values_look_random() {
        let (a, b) = (random_hex(), random_hex());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let p = random_password();
        assert_eq!(p.chars().count(), 20);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn usernames() {
        assert!(check_username("alice.b@example-1_x").is_ok());
        for bad in ["", "a b", "ä", "a;b", &"x".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password("eleven char").is_err());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }
}
