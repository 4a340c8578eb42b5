"""The sign-up and sign-in forms."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length


class SignupForm(FlaskForm):
    business = StringField("Business name", [InputRequired(), Length(max=200)])
    # granular_message: say what is wrong ("a special-use or reserved name").
    email = EmailField(
        "Email", [InputRequired(), Email(granular_message=True), Length(max=320)]
    )
    password = PasswordField(
        "Password",
        [InputRequired(), Length(min=10, message="Use at least 10 characters.")],
    )
    confirm = PasswordField(
        "Repeat the password",
        [InputRequired(), EqualTo("password", message="The passwords differ.")],
    )


class LoginForm(FlaskForm):
    email = EmailField("Email", [InputRequired(), Length(max=320)])
    password = PasswordField("Password", [InputRequired(), Length(max=1000)])
    remember = BooleanField("Keep me signed in")
