package models

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"
)

// MinPasswordLength is the shortest password Klaxon accepts.
const MinPasswordLength = 10

// Account is a team using Klaxon. Everything else belongs to one.
type Account struct {
	ID        uint   `gorm:"primaryKey"`
	Name      string `gorm:"size:100;not null"`
	CreatedAt time.Time
}

// User is a person who signs in. Emails are unique across the installation.
type User struct {
	ID           uint `gorm:"primaryKey"`
	AccountID    uint `gorm:"not null;index"`
	Account      Account
	Email        string `gorm:"size:254;not null;uniqueIndex"`
	PasswordHash string `gorm:"not null"`
	CreatedAt    time.Time
}

// NormalizeEmail trims and lower-cases an email address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validateEmail(errs ValidationErrors, email string) {
	if email == "" {
		errs.Add("email", "Enter your email address.")
		return
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || !strings.Contains(email, "@") {
		errs.Add("email", "Enter an email address like name@example.com.")
	}
}

func validatePassword(errs ValidationErrors, password, confirm string) {
	if len([]rune(password)) < MinPasswordLength {
		errs.Add("password", "Use at least 10 characters.")
	} else if len(password) > 72 {
		errs.Add("password", "Use at most 72 bytes (bcrypt ignores the rest).")
	}
	if password != confirm {
		errs.Add("confirm", "The two passwords differ.")
	}
}

// HashPassword returns the bcrypt hash of password.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// dummyHash is compared against when an email is unknown, so that a failed
// log-in takes as long whether or not the email exists.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("klaxon-dummy-password"), bcrypt.DefaultCost)

// SignUp is the input for creating a new team with its first user.
type SignUp struct {
	Team, Email, Password, Confirm string
}

// Validate normalises the input and reports what is wrong with it.
func (s *SignUp) Validate() error {
	s.Team = strings.TrimSpace(s.Team)
	s.Email = NormalizeEmail(s.Email)
	errs := ValidationErrors{}
	if s.Team == "" {
		errs.Add("team", "Name your team.")
	} else if len([]rune(s.Team)) > 100 {
		errs.Add("team", "Use at most 100 characters.")
	}
	validateEmail(errs, s.Email)
	validatePassword(errs, s.Password, s.Confirm)
	return errs.OrNil()
}

// CreateAccount creates the team and its first user.
func (d *DB) CreateAccount(ctx context.Context, in SignUp) (*User, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	hash, err := HashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	u := &User{Email: in.Email, PasswordHash: hash, Account: Account{Name: in.Team}}
	err = d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.Create(u).Error
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, ValidationErrors{"email": "An account with this email already exists. Log in instead."}
	}
	return u, err
}

// NewTeammate is the input for adding a user to an existing account.
type NewTeammate struct {
	Email, Password, Confirm string
}

// Validate normalises the input and reports what is wrong with it.
func (n *NewTeammate) Validate() error {
	n.Email = NormalizeEmail(n.Email)
	errs := ValidationErrors{}
	validateEmail(errs, n.Email)
	validatePassword(errs, n.Password, n.Confirm)
	return errs.OrNil()
}

// AddTeammate adds a user to account. An email already in use says whether
// it is this team's (the Team page lists them anyway), never which team
// another user belongs to.
func (d *DB) AddTeammate(ctx context.Context, accountID uint, in NewTeammate) (*User, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	hash, err := HashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	u := &User{AccountID: accountID, Email: in.Email, PasswordHash: hash}
	err = d.WithContext(ctx).Omit("Account").Create(u).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		var mine int64
		if err := d.WithContext(ctx).Model(&User{}).Where("account_id = ? AND email = ?", accountID, in.Email).Count(&mine).Error; err != nil {
			return nil, err
		}
		if mine > 0 {
			return nil, ValidationErrors{"email": in.Email + " is already on your team."}
		}
		return nil, ValidationErrors{"email": "This email cannot be added: it is already in use on this Klaxon, and one email can belong to one team only. Ask them for another address."}
	}
	return u, err
}

// Teammates lists the users of an account, oldest first.
func (d *DB) Teammates(ctx context.Context, accountID uint) ([]User, error) {
	var users []User
	err := d.WithContext(ctx).Where("account_id = ?", accountID).Order("id").Find(&users).Error
	return users, err
}

// Teammate returns account's user with id.
func (d *DB) Teammate(ctx context.Context, accountID, userID uint) (*User, error) {
	var u User
	err := d.WithContext(ctx).Where("account_id = ? AND id = ?", accountID, userID).First(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &u, err
}

// RemoveTeammate deletes a user of account and their sessions. A user cannot
// remove themselves.
func (d *DB) RemoveTeammate(ctx context.Context, accountID, actorID, userID uint) error {
	if actorID == userID {
		return ValidationErrors{"user": "You cannot remove yourself."}
	}
	return d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("account_id = ? AND id = ?", accountID, userID).Delete(&User{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Where("user_id = ?", userID).Delete(&Session{}).Error
	})
}

// Authenticate returns the user with email and password, or ErrNotFound for
// a wrong email or password alike.
func (d *DB) Authenticate(ctx context.Context, email, password string) (*User, error) {
	var u User
	err := d.WithContext(ctx).Preload("Account").Where("email = ?", NormalizeEmail(email)).First(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return nil, ErrNotFound
	}
	return &u, nil
}

// CountAccounts returns how many teams exist.
func (d *DB) CountAccounts(ctx context.Context) (int64, error) {
	var n int64
	err := d.WithContext(ctx).Model(&Account{}).Count(&n).Error
	return n, err
}

// PasswordChange is the input for a user changing their own password.
type PasswordChange struct {
	Current, Password, Confirm string
}

// ChangePassword sets a new password for user after checking the current
// one, and ends the user's other sessions (a password is changed most often
// because it may be known to someone else). keepSession is the session that
// stays logged in.
func (d *DB) ChangePassword(ctx context.Context, userID uint, keepSession string, in PasswordChange) error {
	var u User
	if err := d.WithContext(ctx).Where("id = ?", userID).First(&u).Error; err != nil {
		return err
	}
	errs := ValidationErrors{}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(in.Current)) != nil {
		errs.Add("current", "This is not your current password.")
	}
	validatePassword(errs, in.Password, in.Confirm)
	if errs["password"] == "" && in.Password == in.Current && errs["current"] == "" {
		errs.Add("password", "Choose a password different from the current one.")
	}
	if err := errs.OrNil(); err != nil {
		return err
	}
	hash, err := HashPassword(in.Password)
	if err != nil {
		return err
	}
	return d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", userID).Update("password_hash", hash).Error; err != nil {
			return err
		}
		return tx.Where("user_id = ? AND id <> ?", userID, keepSession).Delete(&Session{}).Error
	})
}
