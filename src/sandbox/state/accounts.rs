//! Accounts and tokens: who may call the API, and the sandbox's simulated
//! users. Signing in with an unknown email creates the account, so any SDK
//! configuration works against a fresh sandbox without a sign-up step.

use super::{new_id, new_secret, Account, CharacterSummary, State, StateError};

impl State {
    /// Creates an account for `email`, or returns the existing one untouched.
    pub fn ensure_account(&mut self, email: &str, password: &str) -> &Account {
        let user_id = self
            .emails
            .entry(email.to_string())
            .or_insert_with(new_id)
            .clone();
        self.accounts
            .entry(user_id.clone())
            .or_insert_with(|| Account {
                user_id,
                email: email.to_string(),
                password: password.to_string(),
                name: email.split('@').next().unwrap_or(email).to_string(),
                avatar: None,
                description: None,
            })
    }

    /// Creates a control-API user `<name>@sandbox.local` with a generated
    /// password; idempotent per name.
    pub fn ensure_sandbox_user(&mut self, name: &str) -> Account {
        let email = format!("{name}@sandbox.local");
        let mut account = self.ensure_account(&email, &new_secret()).clone();
        if account.name != name {
            // The email's local part is the name; keep what the caller asked for.
            account.name = name.to_string();
            if let Some(stored) = self.accounts.get_mut(&account.user_id) {
                stored.name = name.to_string();
            }
        }
        account
    }

    /// The control API's users (`<name>@sandbox.local` accounts that own no
    /// service), sorted by name.
    pub fn sandbox_users(&self) -> Vec<CharacterSummary> {
        let mut users: Vec<CharacterSummary> = self
            .accounts
            .values()
            .filter(|a| a.email.ends_with("@sandbox.local"))
            .filter(|a| !self.services.values().any(|s| s.owner == a.user_id))
            .map(|a| CharacterSummary {
                character_id: a.user_id.clone(),
                name: a.name.clone(),
            })
            .collect();
        users.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then(a.character_id.cmp(&b.character_id))
        });
        users
    }

    /// Signs in (creating unknown accounts) and returns (access, refresh) tokens.
    pub fn sign_in(&mut self, email: &str, password: &str) -> Result<(String, String), StateError> {
        let account = self.ensure_account(email, password);
        if account.password != password {
            return Err(StateError::WrongPassword);
        }
        let user_id = account.user_id.clone();
        let access = new_secret();
        let refresh = new_secret();
        self.access_tokens.insert(access.clone(), user_id.clone());
        self.refresh_tokens.insert(refresh.clone(), user_id);
        self.issued_tokens.extend([access.clone(), refresh.clone()]);
        Ok((access, refresh))
    }

    /// A new access token for a refresh token; older access tokens stay valid.
    pub fn refresh(
        &mut self,
        email: Option<&str>,
        refresh_token: &str,
    ) -> Result<String, StateError> {
        let user_id = self
            .refresh_tokens
            .get(refresh_token)
            .cloned()
            .ok_or(StateError::BadToken)?;
        if let Some(email) = email.filter(|e| !e.is_empty()) {
            if self.emails.get(email) != Some(&user_id) {
                return Err(StateError::BadToken);
            }
        }
        let access = new_secret();
        self.access_tokens.insert(access.clone(), user_id);
        self.issued_tokens.push(access.clone());
        Ok(access)
    }

    /// Every token ever issued, so tests can prove none of them leaked into
    /// a log (in-process only: no endpoint serves this).
    pub fn issued_tokens(&self) -> &[String] {
        &self.issued_tokens
    }

    pub fn sign_out(&mut self, access_token: &str) {
        self.access_tokens.remove(access_token);
    }

    /// The user id an access token belongs to.
    pub fn user_for_token(&self, token: &str) -> Result<&str, StateError> {
        self.access_tokens
            .get(token)
            .map(String::as_str)
            .ok_or(StateError::BadToken)
    }

    pub fn account(&self, user_id: &str) -> Result<&Account, StateError> {
        self.accounts
            .get(user_id)
            .ok_or_else(|| StateError::UnknownUser(user_id.to_string()))
    }

    pub fn account_mut(&mut self, user_id: &str) -> Result<&mut Account, StateError> {
        self.accounts
            .get_mut(user_id)
            .ok_or_else(|| StateError::UnknownUser(user_id.to_string()))
    }

    /// Resolves a user id, a sandbox user name, or any account's name.
    pub fn resolve_user(&self, user: &str) -> Result<&Account, StateError> {
        if let Some(account) = self.accounts.get(user) {
            return Ok(account);
        }
        let sandbox_email = format!("{user}@sandbox.local");
        self.emails
            .get(&sandbox_email)
            .or_else(|| self.emails.get(user))
            .and_then(|id| self.accounts.get(id))
            .or_else(|| self.accounts.values().find(|a| a.name == user))
            .ok_or_else(|| StateError::UnknownUser(user.to_string()))
    }
}
