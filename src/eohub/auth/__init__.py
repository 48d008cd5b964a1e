"""Accounts: users, password hashing, login throttling, roles and download quotas."""

from eohub.auth.ports import Account, AccountStore
from eohub.auth.quotas import DownloadGate, Throttle
from eohub.auth.service import Accounts, LoginPolicy

__all__ = ["Account", "AccountStore", "Accounts", "DownloadGate", "LoginPolicy", "Throttle"]
