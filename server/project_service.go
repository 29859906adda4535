package server

import (
	"context"
	"fmt"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// ProjectService implements identityv1.ProjectServiceServer.
type ProjectService struct{ *Server }

var _ identityv1.ProjectServiceServer = (*ProjectService)(nil)

// GetProject returns the caller's project; any other id is NotFound.
func (s *ProjectService) GetProject(ctx context.Context, req *identityv1.GetProjectRequest) (*identityv1.GetProjectResponse, error) {
	p := principalFrom(ctx)
	if req.GetProjectId() != p.ProjectID {
		return nil, notFound("project", req.GetProjectId())
	}
	proj, err := s.db.Project.Get(ctx, p.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("get project: %w", err)
	}
	return &identityv1.GetProjectResponse{Project: projectToProto(proj)}, nil
}

// UpdateProject renames the caller's project.
func (s *ProjectService) UpdateProject(ctx context.Context, req *identityv1.UpdateProjectRequest) (*identityv1.UpdateProjectResponse, error) {
	p := principalFrom(ctx)
	if req.GetProject().GetId() != p.ProjectID {
		return nil, notFound("project", req.GetProject().GetId())
	}
	var out *ent.Project
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		var err error
		out, err = cs.tx.Project.UpdateOneID(p.ProjectID).
			SetDisplayName(req.GetProject().GetDisplayName()).
			SetUpdateTime(cs.now).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("update project: %w", err)
		}
		cs.add("", change.KindProject, change.OperationUpdate, p.ProjectID, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UpdateProjectResponse{Project: projectToProto(out), Revision: rev}, nil
}
