"""The catalogue: every label, button, heading, message and mail subject of the portal the bot
relies on, in English and French, for both journeys of shared/spec/portal.md.

Why one place: the live portal changes its wording without notice. When a screen drifts,
`chorus-bot check-site` names the element by its first English wording; adding the new
wording to that element's tuple here is the whole fix. Page objects import these names;
no other module spells a portal string.

Each element is a `Wording`: its known English wordings, then its known French ones (the
first English one names the element in reports). Sources: portal.md (the contract, and its
account-first section A-I for that journey's French wordings), the sandbox's French for the
guide's journey. A name matches when it equals one wording, whatever the case, the runs of
whitespace (newlines, non-breaking spaces), the kind of apostrophe, a space before "?" or
":", or a required-field asterisk before or after it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Language = Literal["en", "fr"]
LANGUAGES: Final[tuple[Language, ...]] = ("en", "fr")

_REGEX_SPECIAL = set("\\^$.|?*+()[]{}/")
_ASTERISK = r"(?:\*\s*)?"


def _word(word: str) -> str:
    """One whitespace-free piece of a wording as a regex valid in Python and JavaScript."""
    out = []
    for ch in word:
        if ch in "'’":
            out.append("['’]")
        elif ch in "?!:;":
            out.append(r"\s*" + ("\\" + ch if ch in _REGEX_SPECIAL else ch))
        else:
            out.append("\\" + ch if ch in _REGEX_SPECIAL else ch)
    return "".join(out)


def wording_regex(text: str) -> str:
    """A wording as a regex body: any whitespace run for a space, `\\s*` before "?!:;"."""
    words = text.split()
    body = ""
    for i, word in enumerate(words):
        if i and word[0] not in "?!:;":
            body += r"\s+"
        body += _word(word)
    return body


@dataclass(frozen=True)
class Wording:
    """An element's known wordings: English ones, then French ones."""

    en: tuple[str, ...]
    fr: tuple[str, ...]

    @property
    def name(self) -> str:
        """How reports and errors name the element: its first English wording."""
        return self.en[0]

    def of(self, language: Language | None = None) -> tuple[str, ...]:
        """The wordings of one language (both when None), without repeats."""
        texts = self.en + self.fr if language is None else (self.en if language == "en" else self.fr)
        return tuple(dict.fromkeys(texts))

    def pattern(self, language: Language | None = None) -> re.Pattern[str]:
        """Matches a whole accessible name or label equal to one wording (asterisk allowed)."""
        alternatives = "|".join(wording_regex(t) for t in self.of(language))
        return re.compile(rf"^\s*{_ASTERISK}(?:{alternatives})\s*{_ASTERISK}$", re.IGNORECASE)

    def search(self, language: Language | None = None) -> re.Pattern[str]:
        """Finds one wording inside a longer text (a message among others, a sentence)."""
        alternatives = "|".join(wording_regex(t) for t in self.of(language))
        return re.compile(f"(?:{alternatives})", re.IGNORECASE)

    def matches(self, name: str, language: Language | None = None) -> bool:
        return self.pattern(language).match(name) is not None

    def found_in(self, text: str) -> str | None:
        """The text of the first wording found in `text`, as the portal wrote it; else None."""
        match = self.search().search(text)
        return match.group(0) if match else None

    def language_of(self, name: str) -> Language | None:
        """Which language `name` is in, judged by this element's wordings (English first)."""
        for language in LANGUAGES:
            if self.matches(name, language):
                return language
        return None


def W(en: str | tuple[str, ...], fr: str | tuple[str, ...]) -> Wording:
    """A catalogue entry: one wording or a tuple of known wordings per language."""
    return Wording(en=(en,) if isinstance(en, str) else tuple(en), fr=(fr,) if isinstance(fr, str) else tuple(fr))


# ======================================================================================
# Every page
# ======================================================================================
LANG_EN: Final = W(("EN", "English"), ("EN", "Anglais", "English"))
LANG_FR: Final = W(("FR", "French", "Français"), ("FR", "Français"))
COOKIE_BANNER: Final = W("Cookie management", "Gestion des cookies")
COOKIES_ACCEPT: Final = W("Accept all", ("Tout accepter", "Accepter tout"))
VALIDATE: Final = W("Validate", "Valider")
CEA_PATH: Final = "/cea"  # the CEA pages: a trap the bot must never open (any URL under it)

# ======================================================================================
# The guide's journey (portal.md "Screens")
# ======================================================================================
# ---- home (also A of the account-first journey) ----------------------------------------
HOME_CREATE_ACCOUNT: Final = W("Create an account", "Créer un compte")
HOME_HEADING: Final = W("Welcome to Chorus Pro", "Bienvenue sur Chorus Pro")

# ---- log in (home box and /login) -------------------------------------------------------
LOGIN_EMAIL: Final = W("Login email", ("Adresse électronique de connexion", "Adresse e-mail de connexion"))
# The log-in form's email: the guide's portal asks for the login email, the identity provider for "Email".
LOGIN_FORM_EMAIL: Final = W(
    ("Login email", "Email"), ("Adresse électronique de connexion", "Adresse e-mail de connexion", "Adresse e-mail")
)
PASSWORD: Final = W("Password", "Mot de passe")
LOGIN_BUTTON: Final = W("Log in", ("Se connecter", "Connexion"))
VERIFY_CODE: Final = W("Verification code", "Code de vérification")

# ---- step 1: account --------------------------------------------------------------------
STEP1_SIRET: Final = W("Company registration number (SIRET)", "Numéro d'immatriculation de l'entreprise (SIRET)")
CAPTCHA_FIELD: Final = W("Characters shown in the image", "Caractères affichés dans l'image")

# ---- "structure already exists" ----------------------------------------------------------
EXISTS_HEADING: Final = W(
    "This structure already exists in Chorus Pro", "Cette structure existe déjà dans Chorus Pro"
)
EXISTS_JOIN: Final = W(
    "Request to join this structure", ("Demander à rejoindre cette structure", "Demander le rattachement")
)
JOIN_SENT: Final = W(
    "Your request to join this structure has been sent to its primary manager.",
    "Votre demande de rattachement a été transmise au gestionnaire principal de la structure.",
)

# ---- step 2: structure --------------------------------------------------------------------
STEP2_HEADING: Final = W("Your structure", "Votre structure")
IDENTIFIER_TYPE: Final = W("Identifier type", "Type d'identifiant")
IDENTIFIER: Final = W("Identifier", "Identifiant")
COMPANY_NAME: Final = W("Company name", "Raison sociale")
ADDRESS: Final = W("Address", "Adresse")
POSTAL_CODE: Final = W("Postal code", "Code postal")
CITY: Final = W("City", "Ville")
COUNTRY: Final = W("Country", "Pays")
NON_DIFFUSIBLE: Final = W("INSEE not diffusible", "Non diffusible INSEE")
ADD_NOTIFICATION_EMAIL: Final = W("Add a notification email", "Ajouter une adresse de notification")
NOTIFICATION_EMAIL: Final = W("Notification email address", "Adresse électronique de notification")
FIRST_NAME: Final = W("First name", "Prénom")
LAST_NAME: Final = W("Last name", "Nom")
PHONE: Final = W("Phone number", ("Numéro de téléphone", "Téléphone"))
JOB_TITLE: Final = W("Job title", "Fonction")
ACCEPT_TERMS: Final = W("I accept the terms of use", "J'accepte les conditions générales d'utilisation")
INSEE_MASKED: Final = "[ND]"  # what INSEE puts in the masked fields of a non-diffusible record

# ---- step 3: work areas (also H of the account-first journey) ------------------------------
WORK_AREAS_HEADING: Final = W("Open your working areas", "Ouvrez vos espaces de travail")
# One switch per area, keyed by the canonical (English) names of bot.models.ALL_AREAS.
AREAS: Final[dict[str, Wording]] = {
    "Sent requests": W("Sent requests", "Sollicitations émises"),
    "Issued invoices": W("Issued invoices", "Factures émises"),
    "Manager activities": W("Manager activities", "Activités du gestionnaire"),
    "Work invoices": W("Work invoices", "Factures de travaux"),
    "Commitments": W("Commitments", "Engagements"),
    "Received invoices": W("Received invoices", "Factures reçues"),
}

# ---- step 4: created ------------------------------------------------------------------------
CREATED_HEADING: Final = W("Your account is created", "Votre compte est créé")
CREATED_MAIL_SENT: Final = W(
    ("An activation email has been sent to", "An activation e-mail has been sent to"),
    ("Un courriel d'activation a été envoyé à", "Un e-mail d'activation a été envoyé à"),
)
CREATED_PRIMARY_MANAGER: Final = W(
    "You are the first one to create your company within Chorus Pro: you are the primary manager.",
    "Vous êtes le premier à créer votre entreprise dans Chorus Pro : vous en êtes le gestionnaire principal.",
)

# ---- activation -------------------------------------------------------------------------------
ACTIVATE_HEADING: Final = W("Activate your user account", "Activez votre compte utilisateur")
CONFIRM_PASSWORD: Final = W("Confirm password", "Confirmation du mot de passe")
SECRET_QUESTION: Final = W("Secret question", "Question secrète")
ANSWER: Final = W("Answer", "Réponse")
ACTIVATED: Final = W(
    "Your account has been activated, you can now issue invoices to your public client.",
    "Votre compte a été activé, vous pouvez désormais émettre des factures à votre client public.",
)
LINK_EXPIRED: Final = W("This activation link has expired.", "Ce lien d'activation a expiré.")
SEND_NEW_MAIL: Final = W("Send a new activation email", "Envoyer un nouveau courriel d'activation")
LINK_INVALID: Final = W("This activation link is not valid.", "Ce lien d'activation n'est pas valide.")
NEW_MAIL_SENT: Final = W(
    "A new activation email has been sent to", "Un nouveau courriel d'activation a été envoyé à"
)
# The options of "Secret question" (credentials store the wording the portal showed).
SECRET_QUESTION_OPTIONS: Final[tuple[Wording, ...]] = (
    W("What is the name of your first pet?", "Quel est le nom de votre premier animal de compagnie ?"),
    W("What is your mother's maiden name?", "Quel est le nom de jeune fille de votre mère ?"),
    W("In which city were you born?", "Dans quelle ville êtes-vous né ?"),
    W("What was the name of your first school?", "Quel était le nom de votre première école ?"),
    W("What is your favourite book?", "Quel est votre livre préféré ?"),
)
SECRET_QUESTIONS: Final = tuple(q.name for q in SECRET_QUESTION_OPTIONS)  # English, as bot.credentials picks

# ---- workspace (after log in) -------------------------------------------------------------------
WORKSPACE_HEADING: Final = W("Your workspace", "Votre espace")
WORKSPACE_AREAS: Final = W("Your work areas", "Vos espaces de travail")
LOG_OUT: Final = W("Log out", "Se déconnecter")

# ---- messages (role="alert", or a page of its own) ------------------------------------------------
MSG_BAD_EMAIL: Final = W("Enter a valid email address.", "Saisissez une adresse électronique valide.")
MSG_BAD_SIRET: Final = W("The SIRET must contain 14 digits.", "Le SIRET doit comporter 14 chiffres.")
MSG_SIRET_UNKNOWN: Final = W(
    "This SIRET is unknown in the INSEE database.", "Ce SIRET est inconnu de la base de l'INSEE."
)
MSG_SIRET_CLOSED: Final = W(
    "This establishment is closed in the INSEE database.", "Cet établissement est fermé dans la base de l'INSEE."
)
MSG_EMAIL_IN_USE: Final = W(
    "An account already exists for this login email.",
    "Un compte existe déjà pour cette adresse électronique de connexion.",
)
MSG_CAPTCHA_WRONG: Final = W(
    "The characters do not match the image.", "Les caractères ne correspondent pas à l'image."
)
MSG_LOCKED: Final = W("Your account is locked for one hour.", "Votre compte est verrouillé pour une heure.")
MSG_MAINTENANCE: Final = W(
    "Chorus Pro is currently under maintenance. Please try again later.",
    "Chorus Pro est actuellement en maintenance. Veuillez réessayer plus tard.",
)
MSG_UNEXPECTED: Final = W("An unexpected error occurred.", "Une erreur inattendue s'est produite.")
MSG_SESSION_EXPIRED: Final = W("Your session has expired.", "Votre session a expiré.")
MSG_BAD_POSTAL_CODE: Final = W("Enter a valid postal code.", "Saisissez un code postal valide.")
MSG_BAD_PHONE: Final = W("Enter a valid phone number.", "Saisissez un numéro de téléphone valide.")
MSG_ND_REQUIRED: Final = W(
    "This establishment is not diffusible in the INSEE database",
    "Cet établissement n'est pas diffusible dans la base de l'INSEE",
)
MSG_AUTOFILL_FAILED: Final = W(
    "The INSEE data could not be retrieved.", "Les données de l'INSEE n'ont pas pu être récupérées."
)
MSG_CSRF: Final = W(
    "Your request could not be verified. Please try again.",
    "Votre demande n'a pas pu être vérifiée. Veuillez réessayer.",
)
MSG_LOGIN_FAILED: Final = W(
    "Incorrect login email or password.", "Adresse électronique ou mot de passe incorrect."
)
MSG_ACCOUNT_PENDING: Final = W(
    "Your account is not activated yet", "Votre compte n'est pas encore activé"
)
MSG_CODE_WRONG: Final = W("The verification code is not valid.", "Le code de vérification n'est pas valide.")
MSG_CODE_EXPIRED: Final = W(
    "The verification code has expired.", "Le code de vérification a expiré."
)
MSG_PASSWORD_RULES: Final = W(
    "The password does not meet the complexity rules.", "Le mot de passe ne respecte pas les règles de complexité."
)

# ---- mails (the mail's language is the one of the sign-up session) -------------------------------
MAIL_SUBJECT_ACTIVATION: Final = W("Chorus Pro - Activate your account", "Chorus Pro - Activation de votre compte")
MAIL_SUBJECT_OTP: Final = W("Chorus Pro - Your verification code", "Chorus Pro - Votre code de vérification")
MAIL_ACTIVATE_LINK: Final = W("Activate my account", "Activer mon compte")
# The forms bot.mail compares with (subjects exactly, anchors case-folded).
MAIL_ACTIVATION_SUBJECTS: Final = MAIL_SUBJECT_ACTIVATION.of()
MAIL_ACTIVATION_ANCHORS: Final = tuple(text.casefold() for text in MAIL_ACTIVATE_LINK.of())
MAIL_CODE_SUBJECTS: Final = MAIL_SUBJECT_OTP.of()

# ======================================================================================
# The account-first journey (portal.md "The live portal's journey today", A-I)
# ======================================================================================
# B. personal information
PERSONAL_INFO_HEADING: Final = W("Personal information", "Informations personnelles")
CONTACT_EMAIL: Final = W("Contact email", "Adresse e-mail de contact")
VALIDATE_CAPTCHA: Final = W("Validate the captcha", "Valider le Captcha")
CAPTCHA_VALIDATED: Final = W("Captcha validated.", "Captcha validé.")
CAPTCHA_ANOTHER: Final = W("Another image", "Une autre image")
CREATE_MY_ACCOUNT: Final = W("Create my account", "Créer mon compte")
# C. summary
ACCOUNT_CREATED: Final = W("Your account has been created", "Votre compte a été créé")
ACCOUNT_MAIL_SENT: Final = CREATED_MAIL_SENT
# D. activation
SUBMIT: Final = W("Submit", "Soumettre")
ACCOUNT_ACTIVATED: Final = W("Your account is activated", "Votre compte est activé")
# E. log in on the identity provider: LOGIN_FORM_EMAIL, PASSWORD, LOGIN_BUTTON, VERIFY_CODE, VALIDATE above
# F. first log-in dialog
FIRST_LOGIN_DIALOG: Final = HOME_HEADING
CREATE_STRUCTURE: Final = W("Create a new structure", "Créer une nouvelle structure")
JOIN_STRUCTURE: Final = W("Join an existing structure", "Me rattacher à une structure existante")
# G. structure
STRUCTURE_INFO_HEADING: Final = W("Information on the structure", "Informations sur la structure")
IDENTIFIER_TYPES: Final[tuple[Wording, ...]] = (
    W("SIRET", "SIRET"),
    W("European structure outside France", "Structure européenne hors France"),
    W("Structure outside the EU", "Structure hors UE"),
    W("RIDET", "RIDET"),
    W("TAHITI number", "Numéro TAHITI"),
    W("Private individual", "Particulier"),
    W("Being registered", "En cours d'immatriculation"),
)
SEARCH: Final = W("Search", "Rechercher")
# H. work areas (the switches are AREAS above)
STRUCTURE_AREAS_HEADING: Final = W("Working areas of the structure", "Espaces de la structure")
# I. done
STRUCTURE_CREATED: Final = W(
    "Your structure has been created. You are its primary manager.",
    "Votre structure a été créée. Vous en êtes le gestionnaire principal.",
)
