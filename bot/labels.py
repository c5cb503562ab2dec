"""Every English label, button, heading and message of the portal the bot relies on.

One place, copied exactly from shared/spec/portal.md (the contract), so that a wording
change on the portal is a one-line fix here and nowhere else. Page objects import these
names; no other module spells a portal string. Where portal.md leaves a wording open,
the sandbox's English wording is used and marked "(sandbox)".
"""
from __future__ import annotations

from typing import Final

# ---- every page -----------------------------------------------------------------------
LANG_EN: Final = "EN"
COOKIES_ACCEPT: Final = "Accept all"
CEA_PATH: Final = "/cea"  # the CEA pages: a trap the bot must never open (any URL under it)

# ---- home ---------------------------------------------------------------------------------
HOME_CREATE_ACCOUNT: Final = "Create an account"

# ---- log in (home box and /login) ------------------------------------------------------------
LOGIN_EMAIL: Final = "Login email"
LOGIN_PASSWORD: Final = "Password"
LOGIN_BUTTON: Final = "Log in"
VERIFY_CODE: Final = "Verification code"

# ---- shared buttons ----------------------------------------------------------------------------
VALIDATE: Final = "Validate"

# ---- step 1: account ---------------------------------------------------------------------------
STEP1_EMAIL: Final = "Login email"
STEP1_SIRET: Final = "Company registration number (SIRET)"
CAPTCHA_FIELD: Final = "Characters shown in the image"

# ---- "structure already exists" ---------------------------------------------------------------
EXISTS_HEADING: Final = "This structure already exists in Chorus Pro"
EXISTS_JOIN: Final = "Request to join this structure"
JOIN_SENT: Final = "Your request to join this structure has been sent to its primary manager."  # (sandbox)

# ---- step 2: structure -------------------------------------------------------------------------
STEP2_HEADING: Final = "Your structure"  # (sandbox)
IDENTIFIER: Final = "Identifier"
COMPANY_NAME: Final = "Company name"
ADDRESS: Final = "Address"
POSTAL_CODE: Final = "Postal code"
CITY: Final = "City"
NON_DIFFUSIBLE: Final = "INSEE not diffusible"
ADD_NOTIFICATION_EMAIL: Final = "Add a notification email"
NOTIFICATION_EMAIL: Final = "Notification email address"
FIRST_NAME: Final = "First name"
LAST_NAME: Final = "Last name"
PHONE: Final = "Phone number"
JOB_TITLE: Final = "Job title"
ACCEPT_TERMS: Final = "I accept the terms of use"
# what INSEE puts in the masked fields of a non-diffusible record
INSEE_MASKED: Final = "[ND]"

# ---- step 3: work areas -----------------------------------------------------------------------
WORK_AREAS_HEADING: Final = "Open your working areas"

# ---- step 4: created ---------------------------------------------------------------------------
CREATED_HEADING: Final = "Your account is created"
CREATED_MAIL_SENT: Final = "An activation email has been sent to"
CREATED_PRIMARY_MANAGER: Final = (
    "You are the first one to create your company within Chorus Pro: you are the primary manager."
)

# ---- activation --------------------------------------------------------------------------------
ACTIVATE_PASSWORD: Final = "Password"
ACTIVATE_CONFIRM: Final = "Confirm password"
ACTIVATE_QUESTION: Final = "Secret question"
ACTIVATE_ANSWER: Final = "Answer"
ACTIVATED: Final = "Your account has been activated, you can now issue invoices to your public client."
LINK_EXPIRED: Final = "This activation link has expired."
SEND_NEW_MAIL: Final = "Send a new activation email"
LINK_INVALID: Final = "This activation link is not valid."
NEW_MAIL_SENT: Final = "A new activation email has been sent to"  # (sandbox)

# ---- workspace (after log in) ---------------------------------------------------------------------
WORKSPACE_HEADING: Final = "Your workspace"  # (sandbox)

# ---- error messages (role="alert") ---------------------------------------------------------------
MSG_BAD_EMAIL: Final = "Enter a valid email address."
MSG_BAD_SIRET: Final = "The SIRET must contain 14 digits."
MSG_SIRET_UNKNOWN: Final = "This SIRET is unknown in the INSEE database."
MSG_SIRET_CLOSED: Final = "This establishment is closed in the INSEE database."
MSG_EMAIL_IN_USE: Final = "An account already exists for this login email."
MSG_CAPTCHA_WRONG: Final = "The characters do not match the image."
MSG_LOCKED: Final = "Your account is locked for one hour."
MSG_MAINTENANCE: Final = "Chorus Pro is currently under maintenance. Please try again later."
MSG_UNEXPECTED: Final = "An unexpected error occurred."
MSG_SESSION_EXPIRED: Final = "Your session has expired."
# (sandbox) messages portal.md leaves open
MSG_BAD_POSTAL_CODE: Final = "Enter a valid postal code."
MSG_BAD_PHONE: Final = "Enter a valid phone number."
MSG_ND_REQUIRED: Final = "This establishment is not diffusible in the INSEE database"
MSG_AUTOFILL_FAILED: Final = "The INSEE data could not be retrieved."
MSG_CSRF: Final = "Your request could not be verified. Please try again."

# ---- the activation mail (FR too: the mail's language is the one of the sign-up session) ----
MAIL_ACTIVATION_SUBJECTS: Final = ("Chorus Pro - Activate your account", "Chorus Pro - Activation de votre compte")
MAIL_ACTIVATION_ANCHORS: Final = ("activate my account", "activer mon compte")  # compared case-folded

# ---- the activation page's secret questions (options of "Secret question") ---------------------
SECRET_QUESTIONS: Final = (
    "What is the name of your first pet?",
    "What is your mother's maiden name?",
    "In which city were you born?",
    "What was the name of your first school?",
    "What is your favourite book?",
)
