package service

import (
	"context"
	"fmt"

	"github.com/acme/identity/ent"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store"
)

// ProjectService implements identityv1.ProjectServiceServer.
type ProjectService struct {
	db *ent.Client
	w  *store.Writer
}

var _ identityv1.ProjectServiceServer = (*ProjectService)(nil)

// NewProjectService returns the project service over db and w.
func NewProjectService(db *ent.Client, w *store.Writer) *ProjectService {
	return &ProjectService{db: db, w: w}
}

// GetProject returns the caller's project; any other id is NotFound.
func (s *ProjectService) GetProject(ctx context.Context, req *identityv1.GetProjectRequest) (*identityv1.GetProjectResponse, error) {
	p := authn.From(ctx)
	if req.GetProjectId() != p.ProjectID {
		return nil, apierr.NotFound("project", req.GetProjectId())
	}
	proj, err := s.db.Project.Get(ctx, p.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("get project: %w", err)
	}
	return &identityv1.GetProjectResponse{Project: projectToProto(proj)}, nil
}

// UpdateProject renames the caller's project.
func (s *ProjectService) UpdateProject(ctx context.Context, req *identityv1.UpdateProjectRequest) (*identityv1.UpdateProjectResponse, error) {
	p := authn.From(ctx)
	if req.GetProject().GetId() != p.ProjectID {
		return nil, apierr.NotFound("project", req.GetProject().GetId())
	}
	var out *ent.Project
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		var err error
		out, err = tx.Project.UpdateOneID(tx.ProjectID).
			SetDisplayName(req.GetProject().GetDisplayName()).
			SetUpdateTime(tx.Now).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("update project: %w", err)
		}
		tx.Record(changelog.ProjectUpdated{Project: changelog.ProjectID(tx.ProjectID)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The row was read inside the write, before the write was numbered.
	pb := projectToProto(out)
	pb.Revision = max(pb.Revision, rev)
	return &identityv1.UpdateProjectResponse{Project: pb, Revision: rev}, nil
}
